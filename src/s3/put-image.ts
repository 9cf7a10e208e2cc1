import { HeadObjectCommand, PutObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
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
  /**
   * The key may already hold an object (S3 refused this image before, e.g. a key conflict): HEAD it before
   * sending. Servers that answer a conditional PUT's 412 only after the whole body (Ceph RGW) would otherwise
   * take the full image again at every attempt, all of it charged to the budget. @default false
   */
  checkFirst?: boolean;
}

/**
 * A single-request upload also carries the file's Content-MD5 (base64). Some S3-compatible servers ignore
 * `x-amz-checksum-sha256` but check Content-MD5 (Ceph RGW 16: 400 BadDigest), so it is sent with every PUT and
 * part: bytes changed on the wire are refused by every kind of server that checks anything. It must be in the
 * headers, before the body, so it comes from the uploader's read of the file just before (verifySpooledFile),
 * not from a read of its own.
 */
export interface SinglePutInput extends PutImageInput {
  contentMd5: string;
}

export interface PutImageDeps {
  client: S3Client;
  throttle: TokenBucket;
  stallTimeoutMs: number;
  signal: AbortSignal;
  /** Send the last this-many bytes as one probe train (UplinkEstimator). @default 0 */
  trainBytes?: number;
}

/** What one upload saw of the path to S3: the uploader's RTT and capacity estimates feed on it. */
export interface UploadTiming {
  /** ms from the call until the body first asked for tokens (connection, request setup, 100-continue). */
  leadMs: number;
  /** ms from the last body bytes leaving until the response: RTT, server time and any queue on the way. */
  tailWaitMs: number;
  /** Size of that last piece: a probe train, or an ordinary chunk. */
  tailBytes: number;
  train: boolean;
}

export interface PutImageResult {
  outcome: 'stored' | 'already-present';
  /** Null when the PUT did not complete normally (412 answered by a HEAD). */
  timing: UploadTiming | null;
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
export async function putImage(input: SinglePutInput, deps: PutImageDeps): Promise<PutImageResult> {
  if (input.checkFirst && (await keyHoldsCopy(input, deps))) return { outcome: 'already-present', timing: null };
  const md5 = input.contentMd5;
  const watchdog = new StallWatchdog(deps.stallTimeoutMs, deps.signal);
  let started = 0;
  let firstAsk: number | null = null;
  let last: { at: number; bytes: number } | null = null;
  let body: Readable | null = null;
  try {
    await takeOverhead(deps.throttle, requestOverheadBytes(input.key), watchdog.signal);
    started = performance.now();
    body = throttledFileStream({
      path: input.path,
      expectedBytes: input.bytes,
      expectedSha256Hex: input.sha256Hex,
      bucket: deps.throttle,
      signal: watchdog.signal,
      onProgress: () => watchdog.progress(),
      onThrottleWait: (waiting) => {
        firstAsk ??= performance.now();
        watchdog.setPaused(waiting);
      },
      trainBytes: deps.trainBytes ?? 0,
      onLastBytes: (at, bytes) => { last = { at, bytes }; },
    });
    // A body that fails (corrupt file, read error) must abort the request, not leave it hanging.
    body.once('error', (err) => watchdog.abort(err));
    await deps.client.send(new PutObjectCommand({
      Bucket: input.bucket,
      Key: input.key,
      Body: body,
      ContentLength: input.bytes,
      ContentType: input.contentType,
      ContentMD5: md5,
      ChecksumSHA256: Buffer.from(input.sha256Hex, 'hex').toString('base64'),
      Metadata: { ...input.metadata, sha256: input.sha256Hex },
      IfNoneMatch: '*',
    }), { abortSignal: watchdog.signal });
    return { outcome: 'stored', timing: timingOf(started, firstAsk, last, (deps.trainBytes ?? 0) > 0) };
  } catch (err) {
    if (watchdog.reason) throw watchdog.reason;
    if (!isPreconditionFailed(err)) throw err;
    // The HEAD runs under the same watchdog: an answer that never comes must not hang the worker.
    watchdog.progress();
    try {
      await confirmStoredCopy(input, { client: deps.client, signal: watchdog.signal });
    } catch (headErr) {
      throw watchdog.reason ?? headErr;
    }
    return { outcome: 'already-present', timing: null };
  } finally {
    // A request cut mid-body (reset, EPIPE) only unpipes the body: destroy it so its file is closed.
    body?.destroy();
    watchdog.dispose();
  }
}

function timingOf(started: number, firstAsk: number | null, last: { at: number; bytes: number } | null, train: boolean): UploadTiming | null {
  if (firstAsk === null || last === null) return null;
  return { leadMs: firstAsk - started, tailWaitMs: performance.now() - last.at, tailBytes: last.bytes, train };
}

export async function takeOverhead(throttle: TokenBucket, bytes: number, signal: AbortSignal): Promise<void> {
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

export async function confirmStoredCopy(input: PutImageInput, deps: Pick<PutImageDeps, 'client' | 'signal'>): Promise<void> {
  const head = await deps.client.send(new HeadObjectCommand({ Bucket: input.bucket, Key: input.key, ChecksumMode: 'ENABLED' }),
    { abortSignal: deps.signal });
  const expectedB64 = Buffer.from(input.sha256Hex, 'hex').toString('base64');
  if (head.Metadata?.['sha256'] !== input.sha256Hex && head.ChecksumSHA256 !== expectedB64) {
    throw new SpoolError('upload_conflict',
      `s3://${input.bucket}/${input.key} already exists with other content (sha256 ${head.Metadata?.['sha256'] ?? 'unknown'})`);
  }
}

/**
 * HEADs the key before anything is sent: true when it holds this image already (uploaded before, the answer
 * lost), false when it is free, or when S3 will not say (403: without s3:ListBucket a missing key answers
 * 403; the conditional write still guards it there). Other content there is an upload_conflict. Charged to
 * the budget and watched for stalls like any request.
 */
export async function keyHoldsCopy(input: PutImageInput, deps: Pick<PutImageDeps, 'client' | 'throttle' | 'stallTimeoutMs' | 'signal'>): Promise<boolean> {
  const watchdog = new StallWatchdog(deps.stallTimeoutMs, deps.signal);
  try {
    await takeOverhead(deps.throttle, requestOverheadBytes(input.key), watchdog.signal);
    watchdog.progress();
    await confirmStoredCopy(input, { client: deps.client, signal: watchdog.signal });
    return true;
  } catch (err) {
    if (watchdog.reason) throw watchdog.reason;
    const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
    if (status === 404 || status === 403) return false;
    throw err;
  } finally {
    watchdog.dispose();
  }
}
