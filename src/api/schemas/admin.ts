import { z } from '@hono/zod-openapi';
import { CapSource, LimitedBy } from './bandwidth.js';
import { ContentType, Count, ImageId, RateOrNull, Time, TimeOrNull } from './common.js';

const DayCount = z.object({ date: z.iso.date(), images: Count, bytes: Count }).strict();
const days = (description: string) => z.array(DayCount).length(30).openapi({ description });
const ImagesAndBytes = z.object({ images: Count, bytes: Count }).strict();

export const Stats = z.object({
  most_popular_format: z.object({ content_type: ContentType, images: Count }).strict().nullable(),
  formats: z.array(z.object({ content_type: ContentType, images: Count }).strict()).openapi({ description: 'Every format received, most images first.' }),
  top_camera_models: z.array(z.object({ model: z.string(), images: Count }).strict()).max(10).openapi({ description: 'The 10 most frequent EXIF camera models, most images first.' }),
  unknown_camera_model: Count.openapi({ description: 'Images without a camera model (none in EXIF, or not extracted yet).' }),
  received_per_day: days('Images received per UTC day (every receipt, duplicates included, uploaded yet or not), by `received_at`: the last 30 days, oldest first, zeros included.'),
  uploaded_per_day: days('Images uploaded to S3 per UTC day, by upload time: the same 30 days.'),
  receipts: Count.openapi({ description: 'Ledger rows (acknowledged images).' }),
  unique_images: Count.openapi({ description: 'Distinct SHA-256 among them.' }),
  duplicates: Count.openapi({ description: '`receipts` - `unique_images` (the same bytes from several devices).' }),
  backlog: ImagesAndBytes,
  uploaded: ImagesAndBytes,
  dead: Count,
  evicted: Count,
}).strict().openapi('Stats', { description: 'Catalogue and pipeline figures, read from counters kept by triggers (constant time at any ledger size).' });
export type Stats = z.infer<typeof Stats>;
export type DayCount = z.infer<typeof DayCount>;

export const LedgerFiles = z.object({
  wal_bytes: Count.openapi({ description: 'Size of `ledger.db-wal` on disk.' }),
  wal_max_bytes: Count.openapi({ description: '`LEDGER_WAL_MAX_BYTES`: the WAL is checkpointed back under it once no reader pins it.' }),
  wal_pinned: z.boolean().nullable().openapi({ description: 'A read transaction keeps the WAL over the limit; null when not known (service down).' }),
  locked_by: z.array(z.string()).nullable().openapi({ description: 'Other processes holding the write lock (`pid 4242 (sqlite3)`): images get `503 ledger_busy` meanwhile. Null where `/proc/locks` cannot tell.' }),
  readers: z.array(z.string()).nullable().openapi({ description: 'Other processes in a read transaction on a WAL snapshot. Null where `/proc/locks` cannot tell.' }),
}).strict().openapi({ description: 'The ledger\'s files, and what other processes\' transactions (an operator\'s `sqlite3`, a backup) do to them.' });
export type LedgerFiles = z.infer<typeof LedgerFiles>;

export const Status = z.object({
  service: z.enum(['up', 'down']),
  at: Time,
  backlog: z.object({
    images: Count.openapi({ description: '`queued` + `uploading`.' }),
    bytes: Count.openapi({ description: 'Their bytes.' }),
    queued: Count,
    uploading: Count,
    oldest_queued_at: TimeOrNull.openapi({ description: '`received_at` of the oldest waiting image; null when none waits.' }),
    oldest_queued_age_seconds: Count.nullable(),
  }).strict(),
  totals: z.object({
    uploaded: Count, dead: Count, evicted: Count,
    duplicates: Count.openapi({ description: 'Receipts of bytes another receipt holds: stored and uploaded once.' }),
  }).strict(),
  egress_bytes_per_sec: Count.nullable().openapi({ description: 'Bytes per second through the upload budget (bodies and request overhead) over the last ~5 s; null when the service is down.' }),
  cap: z.object({
    rate_bytes_per_sec: RateOrNull.openapi({ description: 'What uploads may use now; null when unlimited.' }),
    rate: z.string().openapi({ examples: ['100Mbit/s'] }),
    configured_rate_bytes_per_sec: RateOrNull,
    source: CapSource,
    limited_by: LimitedBy,
    schedule: z.string(),
    override: z.string().nullable(),
  }).strict(),
  drain_eta_seconds: Count.nullable().openapi({ description: '`backlog.bytes` / rate, rounded up; null when unlimited.' }),
  disk: z.object({
    spool_bytes: Count.openapi({ description: 'Image bytes the spool holds (queued, uploading, dead; uploaded too with `KEEP_UPLOADED_FILES`).' }),
    spool_max_bytes: Count.nullable().openapi({ description: '`SPOOL_MAX_BYTES`; null when unlimited.' }),
    free_bytes: Count.openapi({ description: 'Free space on the spool\'s filesystem (for unprivileged users).' }),
    total_bytes: Count,
  }).strict(),
  ledger: LedgerFiles,
}).strict().openapi('Status', {
  description: 'What an operator watches, in one answer (`image-spool status --json` prints the same object; with `service: "down"` when it read the ledger of a stopped service).',
});
export type StatusSnapshot = z.infer<typeof Status>;

/** Ids one requeue may list. */
const MAX_REQUEUE_IDS = 10_000;
const REQUEUE_SHAPE = `expected JSON {"ids": ["<id>", ...]} (1-${MAX_REQUEUE_IDS} ids) or {"state": "dead"}`;

export const RequeueRequest = z.union([
  z.object({ ids: z.array(z.string()).min(1).max(MAX_REQUEUE_IDS) }).openapi({ description: 'These images (each must be dead).' }),
  z.object({ state: z.literal('dead') }).openapi({ description: 'Every dead image.' }),
], { error: REQUEUE_SHAPE }).openapi('RequeueRequest', { examples: [{ state: 'dead' }, { ids: ['01M84CWPD0SMD5ZBY79VQQHV2V'] }] });
export type RequeueRequest = z.infer<typeof RequeueRequest>;

export const RequeueResult = z.object({
  requeued: z.array(ImageId).openapi({ description: 'Back in the queue with a fresh attempt count.' }),
  skipped: z.array(z.object({ id: z.string(), reason: z.string() }).strict()).openapi({
    description: 'Not requeued, with the reason: `no such image`, `state is <state>, not dead`, `a duplicate of <id>: requeue that image`, `its spooled file is gone`, `changed state meanwhile`.',
  }),
}).strict().openapi('RequeueResult');
export type RequeueResult = z.infer<typeof RequeueResult>;
