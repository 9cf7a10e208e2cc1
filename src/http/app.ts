import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { SpoolError } from '../errors.js';
import { isLedgerBusy, LedgerBusy } from '../ledger/busy.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Db } from '../ledger/open.js';
import { redactPath } from '../links/redact.js';
import type { Logger } from '../log.js';
import type { MetricsRoutes } from '../metrics/http.js';
import { adminRoutes, type AdminDeps } from './admin.js';
import type { AppEnv } from './env.js';
import { backlogHandler } from './backlog.js';
import { healthHandler, readinessHandler, type ReadinessDeps } from './health.js';
import { imageStatusHandler } from './images.js';
import { retrieveHandler, type ObjectReader } from './retrieve.js';
import { ingestHandler, type IngestDeps } from './ingest.js';
import { imageReadAuth } from './middleware/image-read-auth.js';
import { adminCredential } from './middleware/credentials.js';
import { redactIds } from '../redact-ids.js';
import { linkUploadRoutes } from './links.js';
import { adminAuth } from './middleware/admin-auth.js';
import { clientLimit } from './middleware/client-limit.js';
import type { ClientSlots } from './client-slots.js';
import { clientKeys } from './client-address.js';
import { answerBeforeBody } from './early-answer.js';
import { describedRoute, route } from '../api/route.js';
import { serveOpenApi } from '../api/document.js';
import { getBacklogRoute, getImageRoute, getImageStatusRoute, postImageRoute } from '../api/routes/images.js';
import { healthRoute, metricsRoute, readinessRoute } from '../api/routes/operations.js';
import { statusRoutes } from '../status/routes.js';
import type { StatusSource } from '../status/status-page.js';

export interface AppDeps extends IngestDeps, AdminDeps {
  db: Db;
  ledger: ImageLedger;
  log: Logger;
  readiness: Omit<ReadinessDeps, 'db'>;
  readObject: ObjectReader;
  metrics: MetricsRoutes;
  /** The status page's data; null when STATUS_PAGE=off. */
  statusPage?: StatusSource | null;
  /** IMAGE_READ=open: image reads need no credential with DEVICE_AUTH=off. */
  openImageReads: boolean;
  /** Ingest slots shared fairly between client addresses; absent = admission's count alone. */
  clientSlots?: ClientSlots;
}

/** A caller's X-Request-Id is kept only when it is a plausible id: 1-128 visible ASCII characters. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>();
  app.use(async function accessLog(c, next) {
    const started = performance.now();
    const offered = c.req.header('x-request-id');
    const requestId = offered !== undefined && REQUEST_ID.test(offered) ? offered : randomUUID();
    c.set('requestId', requestId);
    await next();
    c.header('X-Request-Id', requestId);
    deps.log.info({ req_id: requestId, method: c.req.method, path: redactPath(c.req.path), status: c.res.status, ms: Math.round(performance.now() - started) }, 'request');
  });
  app.use('/image', deps.metrics.ingest('image'));
  app.use('/u/*', deps.metrics.ingest('link'));
  if (deps.clientSlots) app.on('POST', ['/image', '/u/:secret'], clientLimit(deps.clientSlots, deps.clientOf ?? clientKeys()));
  describedRoute(app, postImageRoute, ingestHandler(deps));
  route(app, getBacklogRoute, backlogHandler(deps.ledger, deps.bandwidth));
  const readers = {
    adminToken: deps.adminToken, authenticateDevice: deps.authenticateDevice, ownerOf: (id: string) => deps.ledger.get(id)?.device_id,
    readLinks: deps.readLinks, open: deps.openImageReads,
  };
  route(app, { ...getImageStatusRoute, middleware: imageReadAuth(readers, 'status') }, imageStatusHandler(deps.ledger));
  route(app, { ...getImageRoute, middleware: imageReadAuth(readers, 'bytes') }, retrieveHandler({ ledger: deps.ledger, store: deps.store, readObject: deps.readObject }));
  route(app, healthRoute, healthHandler(deps.db));
  route(app, readinessRoute, readinessHandler({ db: deps.db, ...publicReadiness(deps.readiness) }));
  serveOpenApi(app);
  describedRoute(app, { ...metricsRoute, ...(deps.metrics.requireAdmin ? { middleware: adminAuth(deps.adminToken) } : {}) }, deps.metrics.scrape);
  if (deps.statusPage) app.route('/', statusRoutes(deps.statusPage, deps.adminToken));
  app.route('/admin', adminRoutes(deps));
  app.route('/u', linkUploadRoutes(deps));
  app.notFound((c) => c.json(new SpoolError('not_found', `no route ${c.req.method} ${redactIds(redactPath(c.req.path))}`).toJSON(), 404));
  // The one place an error becomes a response: a stable code, the right status, and a log line.
  app.onError((err, c) => {
    const spoolError = err instanceof SpoolError ? err
      // Any ledger write (admin settings, tokens, requeue, eviction) that met another process's write lock.
      : isLedgerBusy(err) ? new LedgerBusy(`${c.req.method} ${redactPath(c.req.path)}`, err)
      : new SpoolError('internal', 'internal error', { cause: err });
    // Draining, or another process's lock on the ledger: the service is fine and the client is told to come back.
    const level = spoolError.status >= 500 && spoolError.code !== 'shutting_down' && spoolError.code !== 'ledger_busy' ? 'error' : 'warn';
    deps.log[level]({ req_id: c.get('requestId'), code: spoolError.code, err: err.message, path: redactPath(c.req.path) }, 'request failed');
    // An answer before the body was read: the rest is read and discarded, or the connection closes (early-answer.ts).
    const headers = c.env?.incoming ? answerBeforeBody(spoolError, c.env.incoming) : spoolError.headers;
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    // The log keeps the whole message; an answer to anyone but the admin carries no whole image id.
    const body = spoolError.toJSON();
    if (adminCredential(c.req.header('authorization'), deps.adminToken) !== 'admin') body.error.message = redactIds(body.error.message);
    return c.json(body, spoolError.status as ContentfulStatusCode);
  });
  return app;
}

/** /readyz is public: its messages (an S3 error, a spool fault) are passed on with any image id shortened. */
function publicReadiness(r: AppDeps['readiness']): AppDeps['readiness'] {
  return {
    ...r,
    spoolProblem: async () => {
      const problem = await r.spoolProblem();
      return problem === null ? null : redactIds(problem);
    },
    uploaderProblem: () => {
      const problem = r.uploaderProblem();
      return problem === null ? null : redactIds(problem);
    },
  };
}
