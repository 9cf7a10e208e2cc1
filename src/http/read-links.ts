import { Hono, type Context } from 'hono';
import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import { parseExpiresIn } from '../links/request.js';
import type { Logger } from '../log.js';
import { DEFAULT_READ_LINK_SECONDS, type ReadLinks } from '../read-links/read-links.js';
import type { AppEnv } from './env.js';

/** `POST /admin/images/{id}/read-link`; mounted at `/admin/images`, behind the admin token. */
export function adminReadLinkRoutes(readLinks: ReadLinks, ledger: ImageLedger, log: Logger): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();
  routes.post('/:id/read-link', async (c) => {
    const id = c.req.param('id');
    const expiresIn = parseReadLinkRequest(await readBody(c));
    if (!ledger.get(id)) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
    const link = readLinks.issue(id, expiresIn);
    const expiresAt = new Date(link.expires * 1000).toISOString();
    // The link is a credential: the log says one was made, never its signature.
    log.info({ image_id: id, expires_at: expiresAt }, 'read link issued');
    const image = `${origin(c)}/images/${encodeURIComponent(id)}`;
    return c.json({ image_id: id, url: `${image}${link.query}`, status_url: `${image}/status${link.query}`, expires_at: expiresAt }, 201);
  });
  return routes;
}

/** An empty body takes the default lifetime; anything else must be `{"expires_in": ...}`. */
async function readBody(c: Context<AppEnv>): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseReadLinkRequest(body: unknown): number {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SpoolError('invalid_request', 'expected an empty body or a JSON object {"expires_in": "1h" | seconds}');
  }
  const fields = Object.keys(body);
  const unknown = fields.find((k) => k !== 'expires_in');
  if (unknown !== undefined) throw new SpoolError('invalid_request', `unknown field ${JSON.stringify(unknown.slice(0, 40))}; expected expires_in`);
  const value = (body as { expires_in?: unknown }).expires_in;
  return value === undefined ? DEFAULT_READ_LINK_SECONDS : parseExpiresIn(value);
}

/** Absolute when the request named its Host (the admin reached us by that name), else empty: a relative link. */
function origin(c: Context<AppEnv>): string {
  const host = c.env.incoming.headers.host;
  if (!host || !/^[A-Za-z0-9.\-[\]:]{1,255}$/.test(host)) return '';
  return `${new URL(c.req.url).protocol === 'https:' ? 'https' : 'http'}://${host}`;
}
