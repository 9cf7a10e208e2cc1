import type { Context } from 'hono';
import type { ImageOutcome, ImageStatus } from '../api/schemas/images.js';
import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { ImageRow, Resolved } from '../ledger/types.js';
import { formatByContentType } from '../meta/sniff.js';
import type { AppEnv } from './env.js';

/**
 * GET /images/:id/status: the ledger's record of one image. With a credential (imageAccess `full`) all of
 * it; with the id alone, the upload's outcome only (see outcomeOf).
 */
export function imageStatusHandler(ledger: ImageLedger) {
  return function imageStatus(c: Context<AppEnv>): Response {
    const id = c.req.param('id') ?? '';
    const resolved = ledger.resolve(id);
    if (!resolved) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
    return c.json(c.get('imageAccess') === 'full' ? recordOf(resolved) : outcomeOf(resolved));
  };
}

/**
 * What a device that holds only the id may learn: what became of its upload. Nothing the image itself says
 * (metadata), no other receipt's id (`duplicate_of`), no error text (it can name other images' files).
 * The receipt's own id, device and time; everything about the bytes (state, upload) from the row holding them.
 */
function outcomeOf({ row, blob }: Resolved): ImageOutcome {
  return {
    id: row.id,
    device_id: row.device_id,
    state: blob.state,
    sha256: blob.sha256,
    bytes: blob.bytes,
    content_type: blob.content_type,
    s3_key: blob.s3_key,
    attempts: blob.attempts,
    received_at: row.received_at,
    next_attempt_at: blob.state === 'queued' ? blob.next_attempt_at : null,
    uploaded_at: blob.uploaded_at,
  };
}

// The outcome, plus what a credential may see: the receipt it duplicates, the error text, the metadata.
function recordOf(resolved: Resolved): ImageStatus {
  const { row, blob } = resolved;
  return {
    ...outcomeOf(resolved),
    duplicate_of: row.duplicate_of,
    last_error: blob.last_error,
    metadata_state: metadataState(blob),
    metadata_error: blob.metadata_state === 'failed' ? blob.metadata_error : null,
    // Null until extraction ran (right after ingest), and when it failed; else each field is null when the image does not say.
    metadata: blob.metadata_at === null || blob.metadata_state === 'failed' ? null : {
      format: formatByContentType(blob.content_type)?.name ?? blob.content_type.replace('image/', ''),
      width: blob.width,
      height: blob.height,
      camera_make: blob.camera_make,
      camera_model: blob.camera_model,
      gps: blob.gps_lat === null || blob.gps_lon === null ? null : { latitude: blob.gps_lat, longitude: blob.gps_lon },
      captured_at: blob.captured_at,
      captured_at_utc: blob.captured_at_utc,
      orientation: blob.orientation,
    },
  };
}

/** A row from before migration 0016 has no state: done when it has metadata_at, else not tried yet. */
function metadataState(row: ImageRow): 'pending' | 'extracting' | 'done' | 'failed' {
  if (row.metadata_state === null) return row.metadata_at === null ? 'pending' : 'done';
  return row.metadata_state;
}
