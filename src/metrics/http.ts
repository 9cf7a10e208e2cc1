import type { Context, MiddlewareHandler } from 'hono';
import type { Registry } from 'prom-client';
import { SpoolError } from '../errors.js';
import type { AppEnv } from '../http/env.js';
import type { IngestObservation, IngestRoute } from './event-metrics.js';

/** What the HTTP app needs for metrics: an ingest observer, the scrape handler, and whether it is guarded. */
export interface MetricsRoutes {
  ingest(route: IngestRoute): MiddlewareHandler<AppEnv>;
  scrape(c: Context<AppEnv>): Promise<Response>;
  /** METRICS_AUTH=admin: GET /metrics needs the admin bearer token. */
  requireAdmin: boolean;
}

export function metricsRoutes(registry: Registry, observe: (o: IngestObservation) => void, requireAdmin: boolean): MetricsRoutes {
  return {
    ingest: (route) => ingestObserver(route, observe),
    scrape: async (c) => c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' }),
    requireAdmin,
  };
}

/**
 * Wraps an ingest route: status, error code and time of every answer. The app's onError has already
 * turned a thrown error into the response when `next()` returns, and left the error on `c.error`.
 */
function ingestObserver(route: IngestRoute, observe: (o: IngestObservation) => void): MiddlewareHandler<AppEnv> {
  return async function observeIngest(c, next) {
    if (c.req.method !== 'POST') return next();
    const started = performance.now();
    try {
      await next();
    } finally {
      const status = c.res.status;
      observe({ route, status, error: errorCode(c.error, status), seconds: (performance.now() - started) / 1000 });
    }
  };
}

function errorCode(err: unknown, status: number): string | null {
  if (err instanceof SpoolError) return err.code;
  if (err !== undefined) return 'internal';
  return status >= 400 ? 'unknown' : null;
}
