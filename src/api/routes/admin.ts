import { createRoute } from '@hono/zod-openapi';
import { json } from '../content.js';
import { errorResponses } from '../error-responses.js';
import { EXAMPLE_ID, exampleDays } from '../examples.js';
import { RequeueRequest, RequeueResult, Stats, Status } from '../schemas/admin.js';
import { BandwidthRequest, BandwidthState } from '../schemas/bandwidth.js';
import { ADMIN } from '../security.js';

/* The operator endpoints, mounted at /admin behind the admin token (paths here are relative to it). */

export const getBandwidthRoute = createRoute({
  method: 'get', path: '/bwlimit', operationId: 'getBandwidth', summary: 'The upload budget', tags: ['admin'], security: ADMIN,
  responses: {
    200: { description: 'The budget in force and where it comes from.', content: json(BandwidthState, { rate_bytes_per_sec: 12_500_000, rate: '100Mbit/s', source: 'schedule', configured_rate_bytes_per_sec: 12_500_000, limited_by: 'cap', schedule: '100Mbit', override: null, uplink: null, budget: null }) },
    ...errorResponses('unauthorized', 'internal'),
  },
});

export const putBandwidthRoute = createRoute({
  method: 'put', path: '/bwlimit', operationId: 'putBandwidth', summary: 'Override the upload budget, or return to the schedule', tags: ['admin'], security: ADMIN,
  description: 'Applies at once and survives restarts. `{"rate": null}` returns to `UPLOAD_BWLIMIT`. CLI: `image-spool bwlimit 20Mbit`, `image-spool bwlimit --clear`. With `BUDGET_BACKEND=redis` the override is stored in Redis and every gateway applies it within a second; `503 budget_unavailable` when Redis cannot be reached (nothing changed).',
  request: { body: { required: true, content: json(BandwidthRequest, { rate: '20Mbit' }) } },
  responses: {
    200: { description: 'The new state.', content: json(BandwidthState, { rate_bytes_per_sec: 2_500_000, rate: '20Mbit/s', source: 'override', configured_rate_bytes_per_sec: 2_500_000, limited_by: 'cap', schedule: '100Mbit', override: '20Mbit', uplink: null, budget: null }) },
    ...errorResponses('invalid_request', 'invalid_rate', 'unauthorized', 'ledger_unavailable', 'ledger_busy', 'budget_unavailable', 'internal'),
  },
});

export const requeueRoute = createRoute({
  method: 'post', path: '/requeue', operationId: 'requeue', summary: 'Send dead images back to the queue', tags: ['admin'], security: ADMIN,
  description: 'Dead images go back to the queue with a fresh attempt count. Ids that are unknown, not dead, or whose file is gone are skipped with the reason. CLI: `image-spool requeue --dead`, `image-spool requeue ID...`.',
  request: { body: { required: true, content: json(RequeueRequest, { state: 'dead' }) } },
  responses: {
    200: { description: 'What was requeued and what was skipped.', content: json(RequeueResult, { requeued: [EXAMPLE_ID], skipped: [{ id: '01M84D0000000000000000000X', reason: 'state is uploaded, not dead' }] }) },
    ...errorResponses('invalid_request', 'unauthorized', 'ledger_unavailable', 'ledger_busy', 'internal'),
  },
});

export const statsRoute = createRoute({
  method: 'get', path: '/stats', operationId: 'getStats', summary: 'Catalogue and pipeline statistics', tags: ['admin'], security: ADMIN,
  responses: {
    200: {
      description: 'The figures.',
      content: json(Stats, {
        most_popular_format: { content_type: 'image/jpeg', images: 91000 }, formats: [{ content_type: 'image/jpeg', images: 91000 }, { content_type: 'image/png', images: 8206 }],
        top_camera_models: [{ model: 'TrailCam 4', images: 52000 }], unknown_camera_model: 1200,
        received_per_day: exampleDays(() => 3300),
        uploaded_per_day: exampleDays((i) => (i < 23 ? 0 : 14000 - (29 - i) * 500)),
        receipts: 99206, unique_images: 99100, duplicates: 106, backlog: { images: 1204, bytes: 4_812_000_000 }, uploaded: { images: 98000, bytes: 392_000_000_000 }, dead: 2, evicted: 0,
      }),
    },
    ...errorResponses('unauthorized', 'ledger_unavailable', 'internal'),
  },
});

export const statusRoute = createRoute({
  method: 'get', path: '/status', operationId: 'getStatus', summary: 'Backlog, egress, cap, drain time, disk', tags: ['admin'], security: ADMIN,
  description: 'CLI: `image-spool status` (`--json`, `--watch`).',
  responses: {
    200: {
      description: 'The snapshot.',
      content: json(Status, {
        service: 'up', at: '2026-11-23T10:20:30.123Z',
        backlog: { images: 1204, bytes: 4_812_000_000, queued: 1200, uploading: 4, oldest_queued_at: '2026-11-23T08:02:11.000Z', oldest_queued_age_seconds: 8299 },
        totals: { uploaded: 98000, dead: 2, evicted: 0, duplicates: 106 },
        egress_bytes_per_sec: 12_480_000,
        cap: { rate_bytes_per_sec: 12_500_000, rate: '100Mbit/s', configured_rate_bytes_per_sec: 12_500_000, source: 'schedule', limited_by: 'cap', schedule: '08:00,40Mbit 18:00,100Mbit', override: null },
        drain_eta_seconds: 385,
        disk: { spool_bytes: 4_820_000_000, spool_max_bytes: null, free_bytes: 180_000_000_000, total_bytes: 250_000_000_000 },
        ledger: { wal_bytes: 4_128_952, wal_max_bytes: 67_108_864, wal_pinned: false, locked_by: [], readers: [] },
      }),
    },
    ...errorResponses('unauthorized', 'ledger_unavailable', 'internal'),
  },
});
