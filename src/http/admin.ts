import { OpenAPIHono } from '@hono/zod-openapi';
import { route } from '../api/route.js';
import { getBandwidthRoute, putBandwidthRoute, requeueRoute, statsRoute, statusRoute } from '../api/routes/admin.js';
import type { StatusSnapshot } from '../api/schemas/admin.js';
import { SpoolError } from '../errors.js';
import type { BandwidthController } from '../throttle/bandwidth-controller.js';
import { RateParseError } from '../throttle/rate.js';
import { requeue } from '../admin/requeue.js';
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
export function adminRoutes(deps: AdminDeps): OpenAPIHono<AppEnv> {
  const admin = new OpenAPIHono<AppEnv>();
  admin.use(adminAuth(deps.adminToken));
  route(admin, getBandwidthRoute, (c) => c.json(deps.bandwidth.state()));
  route(admin, putBandwidthRoute, async (c, { body }) => {
    try {
      await deps.bandwidth.changeOverride(body.rate);
    } catch (err) {
      if (err instanceof RateParseError) throw new SpoolError('invalid_rate', err.message, { cause: err });
      throw err;
    }
    return c.json(deps.bandwidth.state());
  });
  route(admin, statsRoute, (c) => c.json(deps.ledger.stats(new Date())));
  route(admin, statusRoute, async (c) => c.json(await deps.status()));
  route(admin, requeueRoute, async (c, { body }) => {
    const result = await requeue(body, deps.ledger, deps.store);
    if (result.requeued.length > 0) deps.onQueued();
    return c.json(result);
  });
  admin.route('/links', adminLinkRoutes(deps.links, deps.log));
  admin.route('/images', adminReadLinkRoutes(deps.readLinks, deps.ledger, deps.log));
  return admin;
}
