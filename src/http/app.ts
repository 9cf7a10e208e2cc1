import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Db } from '../ledger/open.js';
import { redactPath } from '../links/redact.js';
import type { Logger } from '../log.js';
import { adminRoutes, type AdminDeps } from './admin.js';
import type { AppEnv } from './env.js';
import { backlogHandler } from './backlog.js';
import { healthHandler, readinessHandler, type ReadinessDeps } from './health.js';
import { imageStatusHandler } from './images.js';
import { retrieveHandler, type ObjectReader } from './retrieve.js';
import { ingestHandler, type IngestDeps } from './ingest.js';
import { linkUploadRoutes } from './links.js';
import { openApiHandler } from './openapi.js';
import { statusRoutes } from '../status/routes.js';
import type { StatusSource } from '../status/status-page.js';

export interface AppDeps extends IngestDeps, AdminDeps {
  db: Db;
  ledger: ImageLedger;
  log: Logger;
  readiness: Omit<ReadinessDeps, 'db'>;
  readObject: ObjectReader;
  /** The status page's data; null when STATUS_PAGE=off. */
  status?: StatusSource | null;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(async function accessLog(c, next) {
    const started = performance.now();
    const requestId = c.req.header('x-request-id') ?? randomUUID();
    c.set('requestId', requestId);
    await next();
    c.header('X-Request-Id', requestId);
    deps.log.info({ req_id: requestId, method: c.req.method, path: redactPath(c.req.path), status: c.res.status, ms: Math.round(performance.now() - started) }, 'request');
  });
  app.post('/image', ingestHandler(deps));
  app.get('/images', backlogHandler(deps.ledger, deps.bandwidth));
  app.get('/images/:id/status', imageStatusHandler(deps.ledger));
  app.get('/images/:id', retrieveHandler({ ledger: deps.ledger, store: deps.store, readObject: deps.readObject }));
  app.get('/healthz', healthHandler(deps.db));
  app.get('/readyz', readinessHandler({ db: deps.db, ...deps.readiness }));
  app.get('/openapi.json', openApiHandler());
  if (deps.status) app.route('/', statusRoutes(deps.status));
  app.route('/admin', adminRoutes(deps));
  app.route('/u', linkUploadRoutes(deps));
  app.notFound((c) => c.json(new SpoolError('not_found', `no route ${c.req.method} ${redactPath(c.req.path)}`).toJSON(), 404));
  // The one place an error becomes a response: a stable code, the right status, and a log line.
  app.onError((err, c) => {
    const spoolError = err instanceof SpoolError ? err : new SpoolError('internal', 'internal error', { cause: err });
    const level = spoolError.status >= 500 && spoolError.code !== 'shutting_down' ? 'error' : 'warn';
    deps.log[level]({ req_id: c.get('requestId'), code: spoolError.code, err: err.message, path: redactPath(c.req.path) }, 'request failed');
    for (const [name, value] of Object.entries(spoolError.headers)) c.header(name, value);
    return c.json(spoolError.toJSON(), spoolError.status as ContentfulStatusCode);
  });
  return app;
}
