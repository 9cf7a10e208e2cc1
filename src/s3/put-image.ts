import { HeadObjectCommand, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { SpoolError } from '../errors.js';
import { throttledFileStream } from '../throttle/throttled-file-stream.js';
import type { TokenBucket } from '../throttle/token-bucket.js';
import { StallWatchdog } from './stall-watchdog.js';

export interface PutImageInput {
  bucket: string;
  key: string;
  path: string;
  bytes: number;
  sha256Hex: string;
  contentType: string;
  metadata: Record<string, string>;
}

export interface PutImageDeps {
  client: S3Client;
  throttle: TokenBucket;
  stallTimeoutMs: number;
  signal: AbortSignal;
}

/**
 * Request-line and header bytes of one PUT, charged to the budget like body bytes. Measured at ~1,175
 * bytes with a 55-character key (the key appears in the path and the signature scope); rounded up so the
 * charge errs on the safe side.
 */
export function requestOverheadBytes(key: string): number {
  return 1280 + 2 * Buffer.byteLength(key);
}

/**
 * Uploads one spooled file as one object, its body throttled by the shared bucket. `IfNoneMatch: '*'`
 * makes a resend after "S3 stored it, then we crashed" answer 412 on S3 proper; a HEAD then proves the
 * stored object carries our SHA-256. Servers that ignore the condition simply overwrite the same key
 * with the same bytes: correct either way.
 */
export async function putImage(input: PutImageInput, deps: PutImageDeps): Promise<'stored' | 'already-present'> {
  const watchdog = new StallWatchdog(deps.stallTimeoutMs, deps.signal);
  try {
    await takeOverhead(deps.throttle, requestOverheadBytes(input.key), watchdog.signal);
    const body = throttledFileStream({
      path: input.path,
      expectedBytes: input.bytes,
      expectedSha256Hex: input.sha256Hex,
      bucket: deps.throttle,
      signal: watchdog.signal,
      onProgress: () => watchdog.progress(),
      onThrottleWait: (waiting) => watchdog.setPaused(waiting),
    });
    // A body that fails (corrupt file, read error) must abort the request, not leave it hanging.
    body.once('error', (err) => watchdog.abort(err));
    await deps.client.send(new PutObjectCommand({
      Bucket: input.bucket,
      Key: input.key,
      Body: body,
      ContentLength: input.bytes,
      ContentType: input.contentType,
      ChecksumSHA256: Buffer.from(input.sha256Hex, 'hex').toString('base64'),
      Metadata: { ...input.metadata, sha256: input.sha256Hex },
      IfNoneMatch: '*',
    }), { abortSignal: watchdog.signal });
    return 'stored';
  } catch (err) {
    if (watchdog.reason) throw watchdog.reason;
    if (isPreconditionFailed(err)) {
      await confirmStoredCopy(input, deps);
      return 'already-present';
    }
    throw err;
  } finally {
    watchdog.dispose();
  }
}

async function takeOverhead(throttle: TokenBucket, bytes: number, signal: AbortSignal): Promise<void> {
  let left = bytes;
  while (left > 0) {
    const piece = Math.min(left, throttle.chunkBytes);
    await throttle.take(piece, signal);
    left -= piece;
  }
}

function isPreconditionFailed(err: unknown): boolean {
  return err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412;
}

async function confirmStoredCopy(input: PutImageInput, deps: PutImageDeps): Promise<void> {
  const head = await deps.client.send(new HeadObjectCommand({ Bucket: input.bucket, Key: input.key, ChecksumMode: 'ENABLED' }),
    { abortSignal: deps.signal });
  const expectedB64 = Buffer.from(input.sha256Hex, 'hex').toString('base64');
  if (head.Metadata?.['sha256'] !== input.sha256Hex && head.ChecksumSHA256 !== expectedB64) {
    throw new SpoolError('upload_conflict',
      `s3://${input.bucket}/${input.key} already exists with other content (sha256 ${head.Metadata?.['sha256'] ?? 'unknown'})`);
  }
}
