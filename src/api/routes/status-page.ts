import { createRoute, z } from '@hono/zod-openapi';
import { json } from '../content.js';
import { StatusReport } from '../schemas/status-report.js';
import { ErrorBody } from '../schemas/common.js';
import { PUBLIC } from '../security.js';

const SAMPLE = { at: '2026-11-23T10:20:30.000Z', backlog_images: 1200, backlog_bytes: 4_812_000_000, egress_bytes_per_sec: 12_480_000, cap_bytes_per_sec: 12_500_000 };
const FULL_EXAMPLE = {
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
const PUBLIC_EXAMPLE = {
  ...FULL_EXAMPLE,
  view: 'public',
  recent_uploads: [{ ...FULL_EXAMPLE.recent_uploads[0], id: '…QHV2V', camera_model: null }],
  recent_errors: [{ ...FULL_EXAMPLE.recent_errors[0], image_id: '…QHV2V' }],
};

const PAGE = { description: 'The page (static: the data comes from `status.json` beside it).', content: { 'text/html': { schema: z.string() } } };
const UNAUTHORIZED = {
  description: '`unauthorized`: no admin token. `WWW-Authenticate: Basic realm="image-spool admin"`, so a browser asks for it (any user name, the token as the password).',
  headers: { 'WWW-Authenticate': { description: '`Basic realm="image-spool admin", charset="UTF-8"`.', schema: { type: 'string' as const } } },
  content: { 'application/json': { schema: ErrorBody, examples: { unauthorized: { value: { error: { code: 'unauthorized', message: 'the full status view needs the admin token: HTTP Basic with any user name and the admin token as the password, or Authorization: Bearer <admin token>' } } } } } },
};
const FULL_VIEW: Array<Record<string, string[]>> = [{ adminBasic: [] }, { adminBearer: [] }];
const REMOVED = '`STATUS_PAGE=off` removes it (then `404`).';

export const statusPageRoute = createRoute({
  method: 'get', path: '/', operationId: 'getStatusPage', summary: 'Status page (HTML), public view', tags: ['operations'],
  description: `A small page for operators: backlog and egress-vs-cap charts over the last hour, cap and schedule, recent uploads and errors, per-device counts; it polls \`status.json\` every 5 s. Public and read-only: it shows the public view (no whole image id, no camera data) and links to \`/full/\`. ${REMOVED}`,
  security: PUBLIC,
  responses: { 200: PAGE },
});

export const statusDataRoute = createRoute({
  method: 'get', path: '/status.json', operationId: 'getStatusPageData', summary: 'What the status page shows', tags: ['operations'],
  description: `No secrets (no tokens, link secrets or credentials). Without the admin token, the public view: image ids shortened, camera models null, ids in error texts shortened; with it (Bearer or Basic), the full view. Device ids and camera models are whatever devices sent: escape them. ${REMOVED}`,
  security: [{}, { adminBearer: [] }, { adminBasic: [] }],
  responses: { 200: { description: 'The current status.', content: { 'application/json': { schema: StatusReport, examples: { public: { value: PUBLIC_EXAMPLE }, full: { value: FULL_EXAMPLE } } } } } },
});

export const fullStatusPageRoute = createRoute({
  method: 'get', path: '/full/', operationId: 'getFullStatusPage', summary: 'Status page (HTML), full view', tags: ['operations'],
  description: `The same page behind the admin token, showing whole image ids and camera models: it polls \`/full/status.json\`. Asks with \`WWW-Authenticate: Basic\`, so a browser prompts for the token (any user name). ${REMOVED}`,
  security: FULL_VIEW,
  responses: { 200: PAGE, 401: UNAUTHORIZED },
});

export const fullStatusDataRoute = createRoute({
  method: 'get', path: '/full/status.json', operationId: 'getFullStatusPageData', summary: 'What the full status page shows', tags: ['operations'],
  description: 'The full view of `status.json`, always (the admin token is required).',
  security: FULL_VIEW,
  responses: { 200: { description: 'The current status, full view.', content: json(StatusReport, FULL_EXAMPLE) }, 401: UNAUTHORIZED },
});
