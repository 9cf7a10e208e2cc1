import { createHash } from 'node:crypto';
import type { NewImage } from '../../src/ledger/types.js';

/** A row as ingest would insert it for device cam-1, its SHA-256 derived from the id (so distinct ids never dedup). */
export function newImage(id: string, receivedAt = new Date()): NewImage {
  return { id, device_id: 'cam-1', sha256: createHash('sha256').update(id).digest('hex'), bytes: 10, content_type: 'image/jpeg', path: `images/${id}.jpg`, s3_key: `cam-1/${id}.jpg`, received_at: receivedAt.toISOString() };
}
