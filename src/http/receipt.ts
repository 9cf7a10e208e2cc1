import type { Receipt } from '../api/schemas/images.js';
import type { EarlierReceipt, ImageRow, NewImage, Resolved } from '../ledger/types.js';

/**
 * What POST /image (and each part through an upload link) answers: the Receipt schema (src/api/schemas/images.ts).
 * `duplicate`: a resend (the first receipt again) or bytes the gateway already held (a new receipt,
 * `duplicate_of` set); not set on a resend that stored bytes the gateway had lost (202, the first receipt, queued).
 */
export type { Receipt };

/** A new receipt whose bytes are stored with it. */
export function storedReceipt(row: NewImage): Receipt {
  return { id: row.id, device_id: row.device_id, sha256: row.sha256, bytes: row.bytes, content_type: row.content_type, status: 'queued' };
}

/** A new receipt for bytes another device already sent: its own id, the original's bytes and state. */
export function duplicateReceipt(row: NewImage, original: ImageRow): Receipt {
  return {
    id: row.id, device_id: row.device_id, sha256: original.sha256, bytes: original.bytes, content_type: original.content_type,
    status: original.state, duplicate: true, duplicate_of: original.id,
  };
}

/** A resend: the device's first receipt, with the current state of its bytes. */
export function resentReceipt(earlier: EarlierReceipt): Receipt {
  const { row, blob } = earlier.earlier;
  return {
    id: row.id, device_id: row.device_id, sha256: row.sha256, bytes: row.bytes, content_type: row.content_type, status: blob.state, duplicate: true,
    ...(row.duplicate_of === null ? {} : { duplicate_of: row.duplicate_of }),
  };
}

/** A resend that stored the receipt's lost bytes again: the first receipt, queued again, as when it was new. */
export function restoredReceipt(restored: Resolved): Receipt {
  const { row, blob } = restored;
  return {
    id: row.id, device_id: row.device_id, sha256: row.sha256, bytes: row.bytes, content_type: row.content_type, status: blob.state,
    ...(row.duplicate_of === null ? {} : { duplicate: true, duplicate_of: row.duplicate_of }),
  };
}
