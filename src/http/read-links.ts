import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { route } from '../api/route.js';
import { createReadLinkRoute } from '../api/routes/links.js';
import { durationSeconds, type ReadLink } from '../api/schemas/links.js';
import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Logger } from '../log.js';
import { DEFAULT_READ_LINK_SECONDS, type ReadLinks } from '../read-links/read-links.js';
import type { AppEnv } from './env.js';

/** `POST /admin/images/{id}/read-link`; mounted at `/admin/images`, behind the admin token. An empty body takes the default lifetime. */
export function adminReadLinkRoutes(readLinks: ReadLinks, ledger: ImageLedger, log: Logger): OpenAPIHono<AppEnv> {
  const routes = new OpenAPIHono<AppEnv>();
  route(routes, createReadLinkRoute, (c, { body }) => {
    const id = c.req.param('id') ?? '';
    if (!ledger.get(id)) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
    const link = readLinks.issue(id, body.expires_in === undefined ? DEFAULT_READ_LINK_SECONDS : durationSeconds(body.expires_in));
    const expiresAt = new Date(link.expires * 1000).toISOString();
    // The link is a credential: the log says one was made, never its signature.
    log.info({ image_id: id, expires_at: expiresAt }, 'read link issued');
    const image = `${origin(c)}/images/${encodeURIComponent(id)}`;
    const issued: ReadLink = { image_id: id, url: `${image}${link.query}`, status_url: `${image}/status${link.query}`, expires_at: expiresAt };
    return c.json(issued, 201);
  });
  return routes;
}

/** Absolute when the request named its Host (the admin reached us by that name), else empty: a relative link. */
function origin(c: Context<AppEnv>): string {
  const host = c.env.incoming.headers.host;
  if (!host || !/^[A-Za-z0-9.\-[\]:]{1,255}$/.test(host)) return '';
  return `${new URL(c.req.url).protocol === 'https:' ? 'https' : 'http'}://${host}`;
}
