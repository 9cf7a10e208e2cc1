import type { ImageRow } from './types.js';

/**
 * Why an image died with its bytes gone: the uploader (classify.ts: `fatal`) and startup recovery record these
 * error codes first in `last_error` ("spool_file_missing: ..."), as describeFailure writes every SpoolError.
 */
export const BYTES_LOST_CODES = ['spool_file_missing', 'spool_file_corrupt'] as const;

/**
 * A row whose bytes are neither in the spool nor in S3: evicted (SPOOL_FULL_POLICY=evict-oldest), or dead
 * because its spool file was missing or corrupt. A dead image S3 refused still has its file: not lost.
 * Such a row never absorbs new bytes: a resend restores it, and dedup never points at it.
 */
export function bytesLost(row: Pick<ImageRow, 'state' | 'last_error'>): boolean {
  if (row.state === 'evicted') return true;
  return row.state === 'dead' && BYTES_LOST_CODES.some((code) => row.last_error?.startsWith(`${code}:`) === true);
}

/** bytesLost as an SQL condition on `images` (GLOB: case-sensitive, and `_` is no wildcard). */
export const BYTES_LOST_SQL = `(state = 'evicted' OR (state = 'dead' AND (${BYTES_LOST_CODES.map((code) => `last_error GLOB '${code}:*'`).join(' OR ')})))`;
