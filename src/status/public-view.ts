import { redactIds, shortId } from '../redact-ids.js';
import type { StatusReport } from './report.js';

/**
 * The status report as anyone who reaches the port may see it: counts, rates, device ids and the shape of
 * the recent rows, but no whole image id (an id opens the image's outcome), no camera model (the image's
 * metadata), and no id in free text (errors quote file names and S3 keys, which hold ids).
 */
export function publicView(r: StatusReport): StatusReport {
  const text = (t: string | null): string | null => (t === null ? null : redactIds(t));
  const paused = r.uploader.paused;
  return {
    ...r,
    view: 'public',
    uploader: { ...r.uploader, paused: paused === null ? null : { ...paused, reason: redactIds(paused.reason) } },
    recent_uploads: r.recent_uploads.map((u) => ({ ...u, id: shortId(u.id), camera_model: null })),
    recent_errors: r.recent_errors.map((e) => ({ ...e, image_id: e.image_id === null ? null : shortId(e.image_id), error: text(e.error) })),
    dead_images: r.dead_images.map((d) => ({ ...d, id: shortId(d.id), last_error: text(d.last_error) })),
  };
}
