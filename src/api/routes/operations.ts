import { createRoute, z } from '@hono/zod-openapi';
import { json } from '../content.js';
import { errorResponses } from '../error-responses.js';
import { Health, Readiness } from '../schemas/health.js';
import { PUBLIC } from '../security.js';

export const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  operationId: 'getHealth',
  summary: 'Liveness',
  tags: ['operations'],
  description: '`200` while the process runs and its ledger answers a query. Public: the status, or the ledger\'s error.',
  security: PUBLIC,
  responses: {
    200: { description: 'Alive.', content: json(Health, { status: 'ok' }) },
    503: { description: 'The ledger does not answer.', content: json(Health, { status: 'error', error: { code: 'ledger_unavailable', message: 'database disk image is malformed' } }) },
  },
});

export const readinessRoute = createRoute({
  method: 'get',
  path: '/readyz',
  operationId: 'getReadiness',
  summary: 'Readiness',
  tags: ['operations'],
  description: '`200` when an image sent now would be accepted and uploaded; `503` names the check that failed and why. Public: image ids in the messages are shortened.',
  security: PUBLIC,
  responses: {
    200: { description: 'Ready.', content: json(Readiness, { status: 'ready', failed: [], checks: { ledger: { ok: true, message: 'writable' }, spool: { ok: true, message: 'room for images' }, uploader: { ok: true, message: 'uploading' } } }) },
    503: { description: 'Not ready.', content: json(Readiness, { status: 'not_ready', failed: ['uploader'], checks: { ledger: { ok: true, message: 'writable' }, spool: { ok: true, message: 'room for images' }, uploader: { ok: false, message: 'paused: InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.' } } }) },
  },
});

export const metricsRoute = createRoute({
  method: 'get',
  path: '/metrics',
  operationId: 'getMetrics',
  summary: 'Prometheus metrics',
  tags: ['operations'],
  description: 'Prometheus text exposition (0.0.4): ingest requests by status and error code, bytes received, ingest and ledger commit latency, backlog, oldest queued age, drain ETA, egress bytes and cap, upload attempts by outcome, images by state, spool free bytes, and Node process metrics. Numbers only: every label has a fixed set of values (route, status, error code, state, outcome, mode), never an image or device id. Public unless `METRICS_AUTH=admin`, which requires the admin token. Every metric: docs/METRICS.md.',
  security: [{}, { adminBearer: [] }],
  responses: {
    200: {
      description: 'The metrics.',
      content: { 'text/plain; version=0.0.4': { schema: z.string(), example: '# HELP image_spool_backlog_images Images waiting to be uploaded (queued or uploading).\n# TYPE image_spool_backlog_images gauge\nimage_spool_backlog_images 1240\n' } },
    },
    ...errorResponses('unauthorized', 'internal'),
  },
});

export const openApiRoute = createRoute({
  method: 'get',
  path: '/openapi.json',
  operationId: 'getOpenApi',
  summary: 'This document',
  tags: ['operations'],
  description: 'Public. Generated from the zod schemas that also validate the requests. Its example ids, hashes and links are made up.',
  security: PUBLIC,
  responses: {
    200: { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: z.object({ openapi: z.string(), info: z.object({}).passthrough(), paths: z.object({}).passthrough() }).passthrough() } } },
  },
});
