import type { JsonValue, PathItem, ResponseObject, Schema } from '../http/openapi.js';

/*
 * The OpenAPI description of GET / and GET /status.json, spread into src/http/openapi.ts (kept here, beside
 * the report it describes). Device ids are plain strings here: the page shows whatever the ledger holds.
 */

const TIME: Schema = { type: 'string', format: 'date-time' };
const TIME_OR_NULL: Schema = { type: ['string', 'null'], format: 'date-time' };
const COUNT: Schema = { type: 'integer', minimum: 0 };
const RATE_OR_NULL: Schema = { type: ['number', 'null'], minimum: 0 };
const TEXT_OR_NULL: Schema = { type: ['string', 'null'] };
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const object = (properties: Record<string, Schema>, description?: string): Schema => ({
  type: 'object', additionalProperties: false, required: Object.keys(properties), properties, ...(description ? { description } : {}),
});
const list = (items: Schema, description?: string): Schema => ({ type: 'array', items, ...(description ? { description } : {}) });

export const STATUS_SCHEMAS: Record<string, Schema> = {
  StatusSample: object({
    at: TIME,
    backlog_images: COUNT,
    backlog_bytes: COUNT,
    egress_bytes_per_sec: { ...RATE_OR_NULL, description: 'Average since the previous sample (the current reading: over at least 5 s); null for the first.' },
    cap_bytes_per_sec: { ...RATE_OR_NULL, description: 'The rate in force; null when unlimited.' },
  }),
  StatusReport: object({
    view: { type: 'string', enum: ['full', 'public'], description: '`public` (no admin token): image ids shortened to `…` and their last 6 characters, `camera_model` null, ids in error texts shortened. `full`: as the ledger has them.' },
    generated_at: TIME,
    backlog: object({ images: COUNT, bytes: COUNT, oldest_queued_at: TIME_OR_NULL, drain_eta_seconds: { type: ['integer', 'null'], minimum: 0 } }),
    totals: object({ receipts: COUNT, uploaded: COUNT, uploaded_bytes: COUNT, dead: COUNT, evicted: COUNT }),
    bandwidth: object({
      rate_bytes_per_sec: RATE_OR_NULL,
      rate: { type: 'string' },
      source: { type: 'string', enum: ['schedule', 'override'] },
      limited_by: { type: 'string', enum: ['cap', 'uplink_share', 'budget_fallback'] },
      schedule: { type: 'string', description: 'UPLOAD_BWLIMIT as configured.' },
      override: TEXT_OR_NULL,
      timetable: list(object({ entry: { type: 'string' }, rate: { type: 'string' }, active: { type: 'boolean' } }), 'The entries of UPLOAD_BWLIMIT; `active` marks the one in force (none while an override is).'),
    }),
    uploader: object({
      active_uploads: COUNT,
      paused: { anyOf: [object({ reason: { type: 'string' }, since: TIME, probes: COUNT }), { type: 'null' }], description: 'Why uploads are paused (S3 unusable), or null.' },
    }),
    history: object({
      interval_ms: { type: 'integer', minimum: 1 },
      samples: list(ref('StatusSample'), 'The last hour, oldest first, one per interval since the service started (in memory).'),
      current: ref('StatusSample'),
    }),
    recent_uploads: list(object({
      id: { type: 'string', description: 'The image id (full view) or `…` and its last 6 characters (public view).' }, device_id: { type: 'string' }, bytes: COUNT, content_type: { type: 'string' },
      camera_model: { ...TEXT_OR_NULL, description: 'Null in the public view.' }, uploaded_at: TIME,
    }), 'The latest 20, newest first.'),
    recent_errors: list(object({
      at: TIME, kind: { type: 'string', enum: ['retry', 'dead', 'paused', 'resumed'] }, image_id: TEXT_OR_NULL, device_id: TEXT_OR_NULL, error: TEXT_OR_NULL,
    }), 'Upload failures since the service started, newest first (at most 50).'),
    dead_images: list(object({ id: { type: 'string' }, device_id: { type: 'string' }, attempts: COUNT, last_error: TEXT_OR_NULL, received_at: TIME }), 'The 10 most recently received dead images.'),
    devices: object({
      rows: list(object({ device_id: { type: 'string' }, backlog: COUNT, received_last_hour: COUNT, uploaded_last_hour: COUNT, last_received_at: TIME_OR_NULL })),
      total: COUNT,
      computed_at: TIME,
    }, 'Devices with a backlog or traffic in the last hour, most backlog first (at most 50 rows; `total` counts them all). Recomputed at most every second, less often when the query is slow.'),
  }),
};

const SAMPLE = { at: '2026-11-23T10:20:30.000Z', backlog_images: 1200, backlog_bytes: 4_812_000_000, egress_bytes_per_sec: 12_480_000, cap_bytes_per_sec: 12_500_000 };
const EXAMPLE: JsonValue = {
  view: 'full',
  generated_at: '2026-11-23T10:20:34.512Z',
  backlog: { images: 1200, bytes: 4_812_000_000, oldest_queued_at: '2026-11-23T08:01:12.345Z', drain_eta_seconds: 385 },
  totals: { receipts: 99_202, uploaded: 98_000, uploaded_bytes: 392_000_000_000, dead: 2, evicted: 0 },
  bandwidth: {
    rate_bytes_per_sec: 12_500_000, rate: '100Mbit/s', source: 'schedule', limited_by: 'cap', schedule: '08:00,40Mbit 18:00,100Mbit', override: null,
    timetable: [{ entry: '08:00,40Mbit', rate: '40Mbit/s', active: false }, { entry: '18:00,100Mbit', rate: '100Mbit/s', active: true }],
  },
  uploader: { active_uploads: 4, paused: null },
  history: { interval_ms: 10_000, samples: [SAMPLE], current: { ...SAMPLE, at: '2026-11-23T10:20:34.512Z' } },
  recent_uploads: [{ id: '01M84CWPD0SMD5ZBY79VQQHV2V', device_id: 'device_1', bytes: 300_004, content_type: 'image/jpeg', camera_model: 'Cam 3000', uploaded_at: '2026-11-23T10:20:33.901Z' }],
  recent_errors: [{ at: '2026-11-23T10:19:02.117Z', kind: 'retry', image_id: '01M84CWPD0SMD5ZBY79VQQHV2V', device_id: 'device_1', error: 'SlowDown (HTTP 503): Please reduce your request rate.' }],
  dead_images: [],
  devices: { rows: [{ device_id: 'device_1', backlog: 1200, received_last_hour: 3100, uploaded_last_hour: 2950, last_received_at: '2026-11-23T10:20:34.002Z' }], total: 1, computed_at: '2026-11-23T10:20:34.510Z' },
};

const PAGE_RESPONSE: ResponseObject = { description: 'The page (static: the data comes from `status.json` beside it).', content: { 'text/html': { schema: { type: 'string' } } } };
const PUBLIC_EXAMPLE: JsonValue = {
  ...(EXAMPLE as Record<string, JsonValue>),
  view: 'public',
  recent_uploads: [{ id: '…QHV2V', device_id: 'device_1', bytes: 300_004, content_type: 'image/jpeg', camera_model: null, uploaded_at: '2026-11-23T10:20:33.901Z' }],
  recent_errors: [{ at: '2026-11-23T10:19:02.117Z', kind: 'retry', image_id: '…QHV2V', device_id: 'device_1', error: 'SlowDown (HTTP 503): Please reduce your request rate.' }],
};
const UNAUTHORIZED: ResponseObject = {
  description: '`unauthorized`: no admin token. `WWW-Authenticate: Basic realm="image-spool admin"`, so a browser asks for it (any user name, the token as the password).',
  content: { 'application/json': { schema: ref('Error'), examples: { unauthorized: { value: { error: { code: 'unauthorized', message: 'the full status view needs the admin token: HTTP Basic with any user name and the admin token as the password, or Authorization: Bearer <admin token>' } } } } } },
};

export const STATUS_PATHS: Record<string, PathItem> = {
  '/': {
    get: {
      operationId: 'getStatusPage',
      summary: 'Status page (HTML), public view',
      tags: ['operations'],
      description: 'A small page for operators: backlog and egress-vs-cap charts over the last hour, cap and schedule, recent uploads and errors, per-device counts; it polls `status.json` every 5 s. Public and read-only: it shows the public view (no whole image id, no camera data) and links to `/full/`. `STATUS_PAGE=off` removes it (then `404`).',
      security: [],
      responses: { '200': PAGE_RESPONSE },
    },
  },
  '/status.json': {
    get: {
      operationId: 'getStatusPageData',
      summary: 'What the status page shows',
      tags: ['operations'],
      description: 'No secrets (no tokens, link secrets or credentials). Without the admin token, the public view: image ids shortened, camera models null, ids in error texts shortened; with it (Bearer or Basic), the full view. Device ids and camera models are whatever devices sent: escape them. `STATUS_PAGE=off` removes it (then `404`).',
      security: [{}, { adminBearer: [] }, { adminBasic: [] }],
      responses: { '200': { description: 'The current status.', content: { 'application/json': { schema: ref('StatusReport'), examples: { public: { value: PUBLIC_EXAMPLE }, full: { value: EXAMPLE } } } } } },
    },
  },
  '/full/': {
    get: {
      operationId: 'getFullStatusPage',
      summary: 'Status page (HTML), full view',
      tags: ['operations'],
      description: 'The same page behind the admin token, showing whole image ids and camera models: it polls `/full/status.json`. Asks with `WWW-Authenticate: Basic`, so a browser prompts for the token (any user name). `STATUS_PAGE=off` removes it.',
      security: [{ adminBasic: [] }, { adminBearer: [] }],
      responses: { '200': PAGE_RESPONSE, '401': UNAUTHORIZED },
    },
  },
  '/full/status.json': {
    get: {
      operationId: 'getFullStatusPageData',
      summary: 'What the full status page shows',
      tags: ['operations'],
      description: 'The full view of `status.json`, always (the admin token is required).',
      security: [{ adminBasic: [] }, { adminBearer: [] }],
      responses: { '200': { description: 'The current status, full view.', content: { 'application/json': { schema: ref('StatusReport'), example: EXAMPLE } } }, '401': UNAUTHORIZED },
    },
  },
};
