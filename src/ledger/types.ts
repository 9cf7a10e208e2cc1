import type { ImageMetadata } from '../meta/extract.js';

/** Where an image's metadata extraction is (migration 0016). */
export type MetadataState = 'extracting' | 'done' | 'failed';

export const IMAGE_STATES = ['queued', 'uploading', 'uploaded', 'dead', 'evicted'] as const;
export type ImageState = (typeof IMAGE_STATES)[number];
/** Every value of `images.state`: a stored image's states, and 'duplicate' for a receipt of bytes another row holds. */
export const ROW_STATES = [...IMAGE_STATES, 'duplicate'] as const;
export type RowState = (typeof ROW_STATES)[number];

/** A row of `images` that holds a blob: a file in the spool and (once uploaded) an object in S3. */
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
  /** Migration 0016; null is untried (metadata_at null) or done before 0016 (metadata_at set). */
  metadata_state: MetadataState | null;
  /** Why extraction failed, with metadata_state 'failed'. */
  metadata_error: string | null;
  duplicate_of: null;
}

/**
 * A receipt for bytes another row already held (migration 0012): its own id, device and time; no file, no
 * object, no upload of its own. Its state stays 'duplicate'; the state a device sees is the original's.
 */
export interface DuplicateRow extends Omit<ImageRow, 'path' | 's3_key' | 'state' | 'duplicate_of'> {
  path: null;
  s3_key: null;
  state: 'duplicate';
  duplicate_of: string;
}

export type LedgerRow = ImageRow | DuplicateRow;

/** A receipt and the row holding its bytes: the receipt itself unless it is a duplicate. */
export interface Resolved {
  row: LedgerRow;
  blob: ImageRow;
}

/**
 * `path: null`: the caller saw a live original with these bytes and kept its file uncommitted, so the row can
 * only become a duplicate; if the original went in the meantime the answer is `needs_file`.
 * `restores`: a resend of bytes whose row lost them (src/ledger/lost.ts); the file was put at that row's own
 * `path`, and the row is queued again instead of a new one being inserted.
 */
export type NewImage = Pick<ImageRow, 'id' | 'device_id' | 'sha256' | 'bytes' | 'content_type' | 's3_key' | 'received_at'> &
  { path: string | null; restores?: string } & Partial<Pick<ImageRow, 'idempotency_key'>>;

/** The device's own earlier receipt for an upload (a resend), or a key it used for other bytes. */
export type EarlierReceipt = { kind: 'resend'; earlier: Resolved } | { kind: 'key_conflict'; earlier: Resolved };

/**
 * Paths of rows that had lost these bytes and now share the copy just stored (they became its duplicates): their
 * leftover files (a corrupt copy) are to be deleted once the transaction has committed. Absent when none.
 */
export interface Absorbed {
  absorbed?: string[];
}

/**
 * What inserting did: a new blob row, a duplicate row pointing at `original`, a resend's lost bytes stored again
 * (`restored`: the earlier receipt, now queued), nothing (a resend), or nothing yet.
 */
export type InsertResult =
  | ({ kind: 'inserted' } & Absorbed)
  | ({ kind: 'duplicate_of'; original: ImageRow } & Absorbed)
  | ({ kind: 'restored'; earlier: Resolved } & Absorbed)
  | { kind: 'needs_file' }
  | EarlierReceipt;

/** Every transition the ledger allows; anything else is a bug and is refused. */
export const TRANSITIONS: Readonly<Record<ImageState, readonly ImageState[]>> = {
  queued: ['uploading', 'dead', 'evicted'],
  uploading: ['uploaded', 'queued', 'dead'],
  uploaded: [],
  dead: ['queued'],
  // A resend stores evicted bytes again (ImageLedger.restore). A dead or evicted row whose bytes are lost may
  // also become a 'duplicate' receipt of another copy of them (ImageLedger.absorbLost).
  evicted: ['queued'],
};

export const UPLOAD_ORDERS = ['oldest', 'newest', 'fair'] as const;
/** oldest: FIFO. newest: freshest first (current data while an old backlog drains). fair: round-robin across devices, oldest first within each. */
export type UploadOrder = (typeof UPLOAD_ORDERS)[number];
