import type { Context } from 'hono';
import type { ImageLedger } from '../ledger/images.js';
import { backlogReport, type BandwidthController } from '../throttle/bandwidth-controller.js';
import type { AppEnv } from './env.js';

/** GET /images: how big the backlog is and how long it takes to drain at the current budget. */
export function backlogHandler(ledger: ImageLedger, bandwidth: BandwidthController) {
  return function backlog(c: Context<AppEnv>): Response {
    return c.json(backlogReport(ledger.summary(), bandwidth.effectiveRate()));
  };
}
