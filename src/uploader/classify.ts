import { S3ServiceException } from '@aws-sdk/client-s3';
import { isSpoolError } from '../errors.js';

/**
 * transient: retry with backoff, forever (network, 5xx, throttling, stalls).
 * permanent: this image cannot be uploaded as is; retry up to MAX_ATTEMPTS, then `dead`.
 * fatal: retrying can never help (the local file is gone or corrupt): `dead` at once.
 */
export type FailureKind = 'transient' | 'permanent' | 'fatal';

const TRANSIENT_S3_CODES = new Set(['SlowDown', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'Throttling']);

export function classifyFailure(err: unknown): FailureKind {
  if (isSpoolError(err, 'spool_file_missing') || isSpoolError(err, 'spool_file_corrupt')) return 'fatal';
  if (isSpoolError(err, 'upload_conflict')) return 'permanent';
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode ?? 0;
    if (TRANSIENT_S3_CODES.has(err.name) || status >= 500 || status === 408 || status === 429) return 'transient';
    if (status >= 400) return 'permanent';
  }
  // Sockets reset, DNS failures, stalls, aborted streams: the network, not the image.
  return 'transient';
}

export function describeFailure(err: unknown): string {
  if (err instanceof S3ServiceException) {
    return `${err.name} (HTTP ${err.$metadata.httpStatusCode ?? '?'}): ${err.message}`;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : `${err.name}: ${err.message}`;
  }
  return String(err);
}
