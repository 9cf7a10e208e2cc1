import type { Context } from 'hono';
import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import { formatByContentType } from '../meta/sniff.js';
import type { AppEnv } from './env.js';

/** GET /images/:id/status: the ledger's record of one image. */
export function imageStatusHandler(ledger: ImageLedger) {
  return function imageStatus(c: Context<AppEnv>): Response {
    const id = c.req.param('id') ?? '';
    const resolved = ledger.resolve(id);
    if (!resolved) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
    // The receipt's own id, device and time; everything about the bytes (state, upload, metadata) from the row holding them.
    const { row, blob } = resolved;
    return c.json({
      id: row.id,
      device_id: row.device_id,
      state: blob.state,
      duplicate_of: row.duplicate_of,
      sha256: blob.sha256,
      bytes: blob.bytes,
      content_type: blob.content_type,
      s3_key: blob.s3_key,
      attempts: blob.attempts,
      last_error: blob.last_error,
      received_at: row.received_at,
      next_attempt_at: blob.state === 'queued' ? blob.next_attempt_at : null,
      uploaded_at: blob.uploaded_at,
      // Null until extraction ran (right after ingest); then each field is null when the image does not say.
      metadata: blob.metadata_at === null ? null : {
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
    });
  };
}
