import type { Context } from 'hono';
import type { ImageLedger } from '../ledger/images.js';
import { drainEtaSeconds, type BandwidthController } from '../throttle/bandwidth-controller.js';
import type { AppEnv } from './env.js';

/** GET /images: how big the backlog is and how long it takes to drain at the current budget. */
export function backlogHandler(ledger: ImageLedger, bandwidth: BandwidthController) {
  return function backlog(c: Context<AppEnv>): Response {
    const summary = ledger.summary();
    const rate = bandwidth.effectiveRate();
    return c.json({
      ...summary,
      rate_bytes_per_sec: Number.isFinite(rate) ? rate : null,
      drain_eta_seconds: drainEtaSeconds(summary.backlog_bytes, rate),
    });
  };
}
