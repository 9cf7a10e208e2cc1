import { S3ServiceException } from '@aws-sdk/client-s3';
import { errnoCode, isSpoolError } from '../errors.js';
import { describeWrongRegion, wrongRegion } from '../s3/wrong-region.js';

/**
 * transient: retry with backoff, forever (network, 5xx, throttling, stalls).
 * permanent: this image cannot be uploaded as is; retry up to MAX_ATTEMPTS, then `dead`.
 * fatal: retrying can never help (the local file is gone or corrupt): `dead` at once.
 * systemic: nothing can be uploaded until the operator or the network fixes something (credentials, bucket,
 * clock, region or endpoint, S3 unreachable, the ledger's WAL no longer syncs): pause the whole uploader and probe, instead of spending every image's attempts.
 */
export type FailureKind = 'transient' | 'permanent' | 'fatal' | 'systemic';

// 409 ConditionalRequestConflict / OperationAborted: our If-None-Match PUT raced another write of the same key
// (typically our own earlier attempt, still completing at S3); AWS says to retry. Not a property of the image.
// BadDigest / XAmzContentSHA256Mismatch: the bytes S3 received do not match the Content-MD5 or checksum we sent.
// The file was verified against the ledger just before sending and re-hashed as it was read, so the bytes
// changed on the way: the network's fault, not the image's. (InvalidDigest, a malformed header, stays permanent.)
const TRANSIENT_S3_CODES = new Set(['SlowDown', 'RequestTimeout', 'InternalError', 'ServiceUnavailable', 'Throttling',
  'ConditionalRequestConflict', 'OperationAborted', 'BadDigest', 'XAmzContentSHA256Mismatch']);
const SYSTEMIC_S3_CODES = new Set([
  'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NoSuchBucket', 'RequestTimeTooSkewed', 'ExpiredToken', 'InvalidToken',
  'TokenRefreshRequired', 'AccountProblem', 'AllAccessDisabled', 'InvalidBucketName',
]);
/** The endpoint cannot be reached at all: every upload would fail the same way. */
const SYSTEMIC_ERRNOS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export function classifyFailure(err: unknown): FailureKind {
  if (isSpoolError(err, 'spool_file_missing') || isSpoolError(err, 'spool_file_corrupt')) return 'fatal';
  if (isSpoolError(err, 'upload_conflict')) return 'permanent';
  if (err instanceof Error && err.name === 'CredentialsProviderError') return 'systemic';
  // The ledger cannot confirm what it holds (a failed WAL sync): no image is sent until it can.
  if (isSpoolError(err, 'ledger_unavailable')) return 'systemic';
  if (SYSTEMIC_ERRNOS.has(errnoCode(err) ?? '')) return 'systemic';
  if (err instanceof S3ServiceException) {
    if (SYSTEMIC_S3_CODES.has(err.name) || wrongRegion(err) !== null) return 'systemic';
    const status = err.$metadata.httpStatusCode ?? 0;
    if (TRANSIENT_S3_CODES.has(err.name) || status >= 500 || status === 408 || status === 429) return 'transient';
    if (status >= 400) return 'permanent';
  }
  // Sockets reset, DNS failures, stalls, aborted streams: the network, not the image.
  return 'transient';
}

export function describeFailure(err: unknown): string {
  if (err instanceof S3ServiceException) {
    const where = wrongRegion(err);
    if (where !== null) return describeWrongRegion(err, where);
    return `${err.name} (HTTP ${err.$metadata.httpStatusCode ?? '?'}): ${err.message}`;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : `${err.name}: ${err.message}`;
  }
  return String(err);
}
