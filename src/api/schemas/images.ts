import { z } from '@hono/zod-openapi';
import { STORED_FORMATS } from '../../meta/sniff.js';
import { EXAMPLE_DUPLICATE, EXAMPLE_RECEIPT } from '../examples.js';
import { ContentType, Count, DeviceId, ImageId, ImageState, RateOrNull, Sha256, Time, TimeOrNull } from './common.js';

const Bytes = z.number().int().min(1);

export const Receipt = z.object({
  id: ImageId,
  device_id: DeviceId,
  sha256: Sha256,
  bytes: Bytes,
  content_type: ContentType,
  status: ImageState,
  duplicate: z.literal(true).optional().openapi({ description: 'Present (and true) on a resend and on a duplicate: no second file, no second object.' }),
  duplicate_of: ImageId.optional().openapi({ description: 'The receipt whose stored bytes, upload and S3 object this one shares (the first device to send these bytes). `status` is that image\'s state.' }),
}).strict().openapi('Receipt', {
  description: 'The answer to an accepted image: durable on disk and in the ledger. A resend gets the first receipt with `duplicate: true` and the image\'s current `status`. Bytes another device already sent get a new receipt (own `id`) with `duplicate: true` and `duplicate_of`: stored and uploaded once.',
  examples: [EXAMPLE_RECEIPT, EXAMPLE_DUPLICATE],
});
export type Receipt = z.infer<typeof Receipt>;

export const Metadata = z.object({
  format: z.enum(STORED_FORMATS.map((f) => f.name) as [string, ...string[]]).openapi({ description: 'From the magic bytes (`binary`: no recognised image, `IMAGE_FORMATS=any`).' }),
  width: z.number().int().min(1).nullable(),
  height: z.number().int().min(1).nullable(),
  camera_make: z.string().max(200).nullable(),
  camera_model: z.string().max(200).nullable(),
  gps: z.object({ latitude: z.number().min(-90).max(90), longitude: z.number().min(-180).max(180) }).strict()
    .nullable().openapi({ description: 'Signed decimal degrees (south and west are negative), 7 decimals.' }),
  captured_at: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/).nullable().openapi({ description: 'Capture time as written in EXIF (the camera\'s local time, no offset).' }),
  captured_at_utc: TimeOrNull.openapi({ description: 'The capture time in UTC, only when EXIF gives the offset (`OffsetTimeOriginal`).' }),
  orientation: z.number().int().min(1).max(8).nullable().openapi({ description: 'EXIF orientation.' }),
}).strict().openapi('Metadata', {
  description: 'Extracted right after the ack from the image\'s first 128 KiB. Each field is null when the image does not carry it; corrupt metadata never fails an ingest.',
});

/** What the id alone shows: the upload's outcome. The full record (ImageStatus) adds to it. */
const outcome = {
  id: ImageId,
  device_id: DeviceId,
  state: ImageState,
  sha256: Sha256,
  bytes: Bytes,
  content_type: ContentType,
  s3_key: z.string().openapi({ description: '`{S3_PREFIX}{device_id}/{YYYY}/{MM}/{DD}/{id}.{ext}`, fixed at ingest.' }),
  attempts: Count.openapi({ description: 'Upload attempts so far.' }),
  received_at: Time,
  next_attempt_at: TimeOrNull.openapi({ description: 'When the uploader may try it next; only while `queued`, else null.' }),
  uploaded_at: TimeOrNull,
};

export const ImageOutcome = z.object(outcome).strict().openapi('ImageOutcome', {
  description: 'What the id alone shows (no credential): what became of the upload. No metadata, no `duplicate_of`, no `last_error` (error texts name other images\' files). For a duplicate, `s3_key` and the upload fields are the shared object\'s.',
});
export type ImageOutcome = z.infer<typeof ImageOutcome>;

export const ImageStatus = z.object({
  ...outcome,
  duplicate_of: z.union([ImageId, z.null()]).openapi({ description: 'The original whose bytes this receipt shares; null for an original.' }),
  last_error: z.string().nullable().openapi({ description: 'Why the last attempt failed (or why the image is dead).' }),
  metadata_state: z.enum(['pending', 'extracting', 'done', 'failed']).openapi({
    description: 'Metadata extraction: `pending` (not started), `extracting`, `done`, or `failed`: the image made its parser run out of time (METADATA_TIMEOUT_MS) or memory, and it is never tried again. The image itself is stored and uploaded either way.',
  }),
  metadata_error: z.string().nullable().openapi({ description: 'Why extraction failed (`timeout: ...`, `memory: ...`, `interrupted: ...`); null unless `metadata_state` is `failed`.' }),
  metadata: z.union([Metadata, z.null()]).openapi({ description: 'Null until extraction ran (right after the ack), and when it failed.' }),
}).strict().openapi('ImageStatus', {
  description: 'The ledger\'s record of one receipt. For a duplicate, everything about the bytes (`state`, `s3_key`, attempts, times of the upload, `metadata`) is the original\'s; `id`, `device_id` and `received_at` are the receipt\'s own.',
});
export type ImageStatus = z.infer<typeof ImageStatus>;

export const Backlog = z.object({
  queued: Count,
  uploading: Count,
  uploaded: Count,
  dead: Count,
  evicted: Count,
  duplicate: Count.openapi({ description: 'Receipts whose bytes another receipt holds (cross-device dedup): no file, no upload of their own.' }),
  backlog_bytes: Count.openapi({ description: 'Bytes of `queued` and `uploading` images.' }),
  oldest_queued_at: TimeOrNull.openapi({ description: '`received_at` of the oldest waiting image; null when none waits.' }),
  rate_bytes_per_sec: RateOrNull.openapi({ description: 'The budget uploads may use now; null when unlimited.' }),
  drain_eta_seconds: Count.nullable().openapi({ description: '`backlog_bytes` / rate, rounded up; null when unlimited.' }),
}).strict().openapi('Backlog', { description: 'What is waiting and how long it takes to drain at the budget in force.' });
export type Backlog = z.infer<typeof Backlog>;
