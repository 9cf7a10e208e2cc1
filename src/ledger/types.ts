import type { ImageMetadata } from '../meta/extract.js';

export const IMAGE_STATES = ['queued', 'uploading', 'uploaded', 'dead', 'evicted'] as const;
export type ImageState = (typeof IMAGE_STATES)[number];

/** A row of `images`, as stored. */
export interface ImageRow extends ImageMetadata {
  id: string;
  device_id: string;
  sha256: string;
  bytes: number;
  content_type: string;
  path: string;
  s3_key: string;
  state: ImageState;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  received_at: string;
  claimed_at: string | null;
  uploaded_at: string | null;
  idempotency_key: string | null;
  /** Failures that were the image's own (S3 refused it); MAX_ATTEMPTS applies to these. */
  permanent_failures: number;
  /** When metadata extraction ran (null: not yet); the metadata columns are ImageMetadata's. */
  metadata_at: string | null;
}

export type NewImage = Pick<ImageRow, 'id' | 'device_id' | 'sha256' | 'bytes' | 'content_type' | 'path' | 's3_key' | 'received_at'> &
  Partial<Pick<ImageRow, 'idempotency_key'>>;

/** What inserting a new image did: stored it, or found the device's earlier receipt for it. */
export type EarlierReceipt = { kind: 'duplicate'; original: ImageRow } | { kind: 'key_conflict'; original: ImageRow };
export type InsertResult = { kind: 'inserted' } | EarlierReceipt;

/** Every transition the ledger allows; anything else is a bug and is refused. */
export const TRANSITIONS: Readonly<Record<ImageState, readonly ImageState[]>> = {
  queued: ['uploading', 'dead', 'evicted'],
  uploading: ['uploaded', 'queued', 'dead'],
  uploaded: [],
  dead: ['queued'],
  evicted: [],
};

export const UPLOAD_ORDERS = ['oldest', 'newest', 'fair'] as const;
/** oldest: FIFO. newest: freshest first (current data while an old backlog drains). fair: round-robin across devices, oldest first within each. */
export type UploadOrder = (typeof UPLOAD_ORDERS)[number];
