import { Hono } from 'hono';
import { SpoolError } from '../errors.js';
import type { BandwidthController } from '../throttle/bandwidth-controller.js';
import { RateParseError } from '../throttle/rate.js';
import { parseRequeueRequest, requeue } from '../admin/requeue.js';
import type { StatusSnapshot } from '../admin/status.js';
import type { ImageLedger } from '../ledger/images.js';
import type { UploadLinks } from '../links/links.js';
import type { Logger } from '../log.js';
import type { ReadLinks } from '../read-links/read-links.js';
import type { SpoolStore } from '../spool/store.js';
import type { AppEnv } from './env.js';
import { adminLinkRoutes } from './links.js';
import { adminAuth } from './middleware/admin-auth.js';
import { adminReadLinkRoutes } from './read-links.js';

export interface AdminDeps {
  adminToken: string;
  bandwidth: BandwidthController;
  ledger: ImageLedger;
  store: SpoolStore;
  /** After a requeue: wake the uploader. */
  onQueued: () => void;
  /** Expirable upload links (`/admin/links`). */
  links: UploadLinks;
  /** Signed, expiring read links for one image (`/admin/images/{id}/read-link`). */
  readLinks: ReadLinks;
  log: Logger;
  /** `GET /admin/status`: backlog, egress, cap, drain ETA, disk (src/admin/status.ts). */
  status: () => Promise<StatusSnapshot>;
}

/** `/admin/*`: operator endpoints, all behind the admin bearer token. */
export function adminRoutes(deps: AdminDeps): Hono<AppEnv> {
  const admin = new Hono<AppEnv>();
  admin.use(adminAuth(deps.adminToken));
  admin.get('/bwlimit', (c) => c.json(deps.bandwidth.state()));
  admin.put('/bwlimit', async (c) => {
    const rate = parseRateBody(await c.req.json().catch(() => undefined));
    try {
      await deps.bandwidth.changeOverride(rate);
    } catch (err) {
      if (err instanceof RateParseError) throw new SpoolError('invalid_rate', err.message, { cause: err });
      throw err;
    }
    return c.json(deps.bandwidth.state());
  });
  admin.get('/stats', (c) => c.json(deps.ledger.stats(new Date())));
  admin.get('/status', async (c) => c.json(await deps.status()));
  admin.post('/requeue', async (c) => {
    const request = parseRequeueRequest(await c.req.json().catch(() => undefined));
    const result = await requeue(request, deps.ledger, deps.store);
    if (result.requeued.length > 0) deps.onQueued();
    return c.json(result);
  });
  admin.route('/links', adminLinkRoutes(deps.links, deps.log));
  admin.route('/images', adminReadLinkRoutes(deps.readLinks, deps.ledger, deps.log));
  return admin;
}

function parseRateBody(body: unknown): string | null {
  if (typeof body === 'object' && body !== null && 'rate' in body) {
    const rate = (body as { rate: unknown }).rate;
    if (rate === null || typeof rate === 'string') return rate;
  }
  throw new SpoolError('invalid_request', 'expected JSON {"rate": "20Mbit"} or {"rate": null} to return to the schedule');
}
