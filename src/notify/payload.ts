import { createHmac } from 'node:crypto';
import type { ImageRow, Resolved } from '../ledger/types.js';
import type { NotifyEvent } from './deliveries.js';

export const EVENT_HEADER = 'X-Image-Spool-Event';
export const DELIVERY_HEADER = 'X-Image-Spool-Delivery';
export const SIGNATURE_HEADER = 'X-Image-Spool-Signature';

/** The image as a notification describes it: the ledger row without local details (path, claim, idempotency key). */
export interface NotifiedImage {
  id: string;
  device_id: string;
  sha256: string;
  bytes: number;
  content_type: string;
  s3_key: string;
  state: ImageRow['state'];
  attempts: number;
  last_error: string | null;
  received_at: string;
  uploaded_at: string | null;
  /** Set on a receipt for bytes another receipt brought first: the upload and the object are that one's. */
  duplicate_of: string | null;
}

export interface NotificationBody {
  event: NotifyEvent;
  image: NotifiedImage;
  /** When the notification was recorded; fixed, so every retry POSTs (and signs) the same bytes. */
  sent_at: string;
}

/** The receipt's own id, device and time; the upload's facts from the row holding the bytes. */
export function notificationBody(event: NotifyEvent, { row, blob }: Resolved, at: Date): string {
  const body: NotificationBody = {
    event,
    image: {
      id: row.id,
      device_id: row.device_id,
      sha256: blob.sha256,
      bytes: blob.bytes,
      content_type: blob.content_type,
      s3_key: blob.s3_key,
      state: blob.state,
      attempts: blob.attempts,
      last_error: blob.last_error,
      received_at: row.received_at,
      uploaded_at: blob.uploaded_at,
      duplicate_of: row.duplicate_of,
    },
    sent_at: at.toISOString(),
  };
  return JSON.stringify(body);
}

/** `sha256=<hex HMAC-SHA256(secret, body)>`, over the body's UTF-8 bytes exactly as sent. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}
