import type { Context } from 'hono';
import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { AppEnv } from './env.js';

/** GET /images/:id/status: the ledger's record of one image. */
export function imageStatusHandler(ledger: ImageLedger) {
  return function imageStatus(c: Context<AppEnv>): Response {
    const id = c.req.param('id') ?? '';
    const row = ledger.get(id);
    if (!row) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
    return c.json({
      id: row.id,
      device_id: row.device_id,
      state: row.state,
      sha256: row.sha256,
      bytes: row.bytes,
      content_type: row.content_type,
      s3_key: row.s3_key,
      attempts: row.attempts,
      last_error: row.last_error,
      received_at: row.received_at,
      next_attempt_at: row.state === 'queued' ? row.next_attempt_at : null,
      uploaded_at: row.uploaded_at,
      // Null until extraction ran (right after ingest); then each field is null when the image does not say.
      metadata: row.metadata_at === null ? null : {
        format: row.content_type.replace('image/', ''),
        width: row.width,
        height: row.height,
        camera_make: row.camera_make,
        camera_model: row.camera_model,
        gps: row.gps_lat === null || row.gps_lon === null ? null : { latitude: row.gps_lat, longitude: row.gps_lon },
        captured_at: row.captured_at,
        captured_at_utc: row.captured_at_utc,
        orientation: row.orientation,
      },
    });
  };
}
