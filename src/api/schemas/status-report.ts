import { z } from '@hono/zod-openapi';
import { CapSource, LimitedBy } from './bandwidth.js';
import { Count, RateOrNull, TextOrNull, Time, TimeOrNull } from './common.js';

/*
 * GET /status.json (the status page's data). Device ids are plain strings here: the page shows whatever the
 * ledger holds, including rows from before a validator existed.
 */

const list = <T extends z.ZodType>(items: T, description: string) => z.array(items).openapi({ description });

const StatusSample = z.object({
  at: Time,
  backlog_images: Count,
  backlog_bytes: Count,
  egress_bytes_per_sec: RateOrNull.openapi({ description: 'Average since the previous sample (the current reading: over at least 5 s); null for the first.' }),
  cap_bytes_per_sec: RateOrNull.openapi({ description: 'The rate in force; null when unlimited.' }),
}).strict().openapi('StatusSample');

export const StatusReport = z.object({
  view: z.enum(['full', 'public']).openapi({ description: '`public` (no admin token): image ids shortened to `…` and their last 6 characters, `camera_model` null, ids in error texts shortened. `full`: as the ledger has them.' }),
  generated_at: Time,
  backlog: z.object({ images: Count, bytes: Count, oldest_queued_at: TimeOrNull, drain_eta_seconds: Count.nullable() }).strict(),
  totals: z.object({ receipts: Count, uploaded: Count, uploaded_bytes: Count, dead: Count, evicted: Count }).strict(),
  bandwidth: z.object({
    rate_bytes_per_sec: RateOrNull,
    rate: z.string(),
    source: CapSource,
    limited_by: LimitedBy,
    schedule: z.string().openapi({ description: 'UPLOAD_BWLIMIT as configured.' }),
    override: TextOrNull,
    timetable: list(z.object({ entry: z.string(), rate: z.string(), active: z.boolean() }).strict(),
      'The entries of UPLOAD_BWLIMIT; `active` marks the one in force (none while an override is).'),
  }).strict(),
  uploader: z.object({
    active_uploads: Count,
    paused: z.object({ reason: z.string(), since: Time, probes: Count }).strict().nullable().openapi({ description: 'Why uploads are paused (S3 unusable), or null.' }),
  }).strict(),
  history: z.object({
    interval_ms: z.number().int().min(1),
    samples: list(StatusSample, 'The last hour, oldest first, one per interval since the service started (in memory).'),
    current: StatusSample,
  }).strict(),
  recent_uploads: list(z.object({
    id: z.string().openapi({ description: 'The image id (full view) or `…` and its last 6 characters (public view).' }),
    device_id: z.string(),
    bytes: Count,
    content_type: z.string(),
    camera_model: TextOrNull.openapi({ description: 'Null in the public view.' }),
    uploaded_at: Time,
  }).strict(), 'The latest 20, newest first.'),
  recent_errors: list(z.object({
    at: Time, kind: z.enum(['retry', 'dead', 'paused', 'resumed']), image_id: TextOrNull, device_id: TextOrNull, error: TextOrNull,
  }).strict(), 'Upload failures since the service started, newest first (at most 50).'),
  dead_images: list(z.object({ id: z.string(), device_id: z.string(), attempts: Count, last_error: TextOrNull, received_at: Time }).strict(),
    'The 10 most recently received dead images.'),
  devices: z.object({
    rows: z.array(z.object({ device_id: z.string(), backlog: Count, received_last_hour: Count, uploaded_last_hour: Count, last_received_at: TimeOrNull }).strict()),
    total: Count,
    computed_at: Time,
  }).strict().openapi({ description: 'Devices with a backlog or traffic in the last hour, most backlog first (at most 50 rows; `total` counts them all). Recomputed at most every second, less often when the query is slow.' }),
}).strict().openapi('StatusReport');
export type StatusReport = z.infer<typeof StatusReport>;
