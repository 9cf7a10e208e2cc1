import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, ListPartsCommand,
  S3ServiceException, UploadPartCommand, type Part,
} from '@aws-sdk/client-s3';
import type { MultipartLedger, RecordedPart } from '../ledger/multipart.js';
import { throttledFileStream } from '../throttle/throttled-file-stream.js';
import { confirmStoredCopy, keyHoldsCopy, requestOverheadBytes, takeOverhead, type PutImageDeps, type PutImageInput, type PutImageResult } from './put-image.js';
import { StallWatchdog } from './stall-watchdog.js';

export interface MultipartDeps extends PutImageDeps {
  partSize: number;
  multipart: MultipartLedger;
  imageId: string;
  /** Called when an upload recorded in the ledger is resumed: what S3 still held of it. */
  onResume?: (resumed: MultipartResume) => void;
}

export interface MultipartResume {
  uploadId: string;
  parts: number;
  /** Parts S3 holds with our bytes: not sent again. */
  reused: number;
  /** Parts S3 listed (kept or not: a part cut short is listed and sent again). */
  listed: number;
}

/**
 * Uploads a large spooled file as an S3 multipart upload, driven here rather than by lib-storage's
 * `Upload`, which cannot resume after a restart and buffers whole parts in memory. The UploadId and every
 * part S3 acknowledged (ETag, SHA-256) are in the ledger. A restart resumes the same upload: ListParts
 * says what S3 holds, each listed part is kept only if its size and ETag (the part's MD5) match our
 * bytes, so at most the parts that were in flight are sent again; a server that cannot list parts gets the
 * upload started over (the old one aborted). Each part body goes through the shared
 * throttle like any upload, with the last chunk held back until the part's bytes re-hash correctly.
 */
export async function putMultipart(input: PutImageInput, deps: MultipartDeps): Promise<PutImageResult> {
  const state = await resume(input, deps);
  if (state === 'already-stored') {
    deps.multipart.forget(deps.imageId);
    return { outcome: 'already-present', timing: null };
  }
  const partCount = Math.ceil(input.bytes / state.partSize);
  const parts: RecordedPart[] = [];
  for (let n = 1; n <= partCount; n++) {
    const start = (n - 1) * state.partSize;
    const bytes = Math.min(state.partSize, input.bytes - start);
    parts.push(state.kept.get(n) ?? (await sendPart(input, deps, state.uploadId, n, start, bytes)));
  }
  try {
    await guarded(deps, (signal) => deps.client.send(new CompleteMultipartUploadCommand({
      Bucket: input.bucket, Key: input.key, UploadId: state.uploadId, IfNoneMatch: '*',
      MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag, ChecksumSHA256: p.checksumSha256 })) },
    }), { abortSignal: signal }));
  } catch (err) {
    if (!(err instanceof S3ServiceException && err.$metadata.httpStatusCode === 412)) throw err;
    await guarded(deps, (signal) => confirmStoredCopy(input, { client: deps.client, signal }));
    await abortQuietly(input, deps, state.uploadId);
    deps.multipart.forget(deps.imageId);
    return { outcome: 'already-present', timing: null };
  }
  deps.multipart.forget(deps.imageId);
  return { outcome: 'stored', timing: null };
}

/** A permanent failure: tell S3 to drop the parts (they cost storage) and forget the upload. */
export async function abortMultipart(input: Pick<PutImageInput, 'bucket' | 'key'>, deps: Pick<MultipartDeps, 'client' | 'multipart' | 'imageId'>): Promise<void> {
  const state = deps.multipart.get(deps.imageId);
  if (!state) return;
  await abortQuietly(input, deps, state.uploadId);
  deps.multipart.forget(deps.imageId);
}

interface Resumed {
  uploadId: string;
  partSize: number;
  kept: Map<number, RecordedPart>;
}

async function resume(input: PutImageInput, deps: MultipartDeps): Promise<Resumed | 'already-stored'> {
  const recorded = deps.multipart.get(deps.imageId);
  if (recorded) {
    const listed = await listParts(input, deps, recorded.uploadId);
    if (Array.isArray(listed)) {
      const kept = await keepMatching(input, recorded.partSize, recorded.parts, listed);
      deps.onResume?.({ uploadId: recorded.uploadId, parts: Math.ceil(input.bytes / recorded.partSize), reused: kept.size, listed: listed.length });
      return { uploadId: recorded.uploadId, partSize: recorded.partSize, kept };
    }
    // S3 no longer knows the upload (it completed and our answer was lost, or it expired or was aborted), or
    // it cannot say which parts it holds (no ListParts): either way the upload may have completed.
    if (await keyHoldsCopy(input, deps)) return 'already-stored';
    // Unlistable parts cannot be trusted: drop them (they cost storage) and start over with every part.
    if (listed === 'unlistable') await abortQuietly(input, deps, recorded.uploadId);
    deps.multipart.forget(deps.imageId);
  } else if (await keyHoldsCopy(input, deps)) {
    // Checked before any part is sent: Ceph RGW ignores If-None-Match on CompleteMultipartUpload, so there the
    // condition would not stop an overwrite, and elsewhere it would refuse only after every part was sent.
    return 'already-stored';
  }
  const created = await guarded(deps, (signal) => deps.client.send(new CreateMultipartUploadCommand({
    Bucket: input.bucket, Key: input.key, ContentType: input.contentType, ChecksumAlgorithm: 'SHA256',
    Metadata: { ...input.metadata, sha256: input.sha256Hex },
  }), { abortSignal: signal }));
  if (!created.UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  deps.multipart.start(deps.imageId, created.UploadId, deps.partSize);
  return { uploadId: created.UploadId, partSize: deps.partSize, kept: new Map() };
}

/**
 * All parts S3 holds for the upload; 'gone' when it does not know the upload any more; 'unlistable' when the
 * server does not implement ListParts (405 or 501: s3rver, some gateways), which says nothing about the image.
 */
async function listParts(input: PutImageInput, deps: MultipartDeps, uploadId: string): Promise<Part[] | 'gone' | 'unlistable'> {
  const parts: Part[] = [];
  let marker: string | undefined;
  try {
    do {
      const page = await guarded(deps, (signal) => deps.client.send(
        new ListPartsCommand({ Bucket: input.bucket, Key: input.key, UploadId: uploadId, PartNumberMarker: marker }), { abortSignal: signal }));
      parts.push(...(page.Parts ?? []));
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
    } while (marker !== undefined);
  } catch (err) {
    if (!(err instanceof S3ServiceException)) throw err;
    const status = err.$metadata.httpStatusCode;
    if (err.name === 'NoSuchUpload' || status === 404) return 'gone';
    if (status === 405 || status === 501 || err.name === 'MethodNotAllowed' || err.name === 'NotImplemented') return 'unlistable';
    throw err;
  }
  return parts;
}

/**
 * A part S3 lists is kept when its size is right and its ETag is the one S3 gave us (recorded), or the
 * MD5 of our bytes (a part stored just before a crash, before we could record it). Anything else, such
 * as a part truncated by a dropped connection, is sent again.
 */
async function keepMatching(input: PutImageInput, partSize: number, recorded: Map<number, RecordedPart>, listed: Part[]): Promise<Map<number, RecordedPart>> {
  const kept = new Map<number, RecordedPart>();
  for (const p of listed) {
    const n = p.PartNumber ?? 0;
    const start = (n - 1) * partSize;
    const bytes = Math.min(partSize, input.bytes - start);
    if (n < 1 || bytes <= 0 || p.Size !== bytes || !p.ETag) continue;
    const mine = recorded.get(n);
    if (mine && sameEtag(mine.etag, p.ETag)) {
      kept.set(n, mine);
      continue;
    }
    const digests = await hashRange(input.path, start, bytes);
    if (sameEtag(digests.md5Hex, p.ETag)) kept.set(n, { partNumber: n, etag: p.ETag, checksumSha256: digests.sha256B64, bytes });
  }
  return kept;
}

async function sendPart(input: PutImageInput, deps: MultipartDeps, uploadId: string, partNumber: number, start: number, bytes: number): Promise<RecordedPart> {
  const digests = await hashRange(input.path, start, bytes);
  const watchdog = new StallWatchdog(deps.stallTimeoutMs, deps.signal);
  let body: Readable | null = null;
  try {
    await takeOverhead(deps.throttle, requestOverheadBytes(input.key), watchdog.signal);
    body = throttledFileStream({
      path: input.path, start, expectedBytes: bytes, expectedSha256Hex: digests.sha256Hex, bucket: deps.throttle, signal: watchdog.signal,
      onProgress: () => watchdog.progress(),
      onThrottleWait: (waiting) => watchdog.setPaused(waiting),
    });
    body.once('error', (err) => watchdog.abort(err));
    const res = await deps.client.send(new UploadPartCommand({
      Bucket: input.bucket, Key: input.key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: bytes,
      ContentMD5: Buffer.from(digests.md5Hex, 'hex').toString('base64'), // checked by servers that ignore the SHA-256 (RGW)
      ChecksumSHA256: digests.sha256B64,
    }), { abortSignal: watchdog.signal });
    if (!res.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
    const part: RecordedPart = { partNumber, etag: res.ETag, checksumSha256: digests.sha256B64, bytes };
    deps.multipart.recordPart(deps.imageId, part);
    return part;
  } catch (err) {
    throw watchdog.reason ?? err;
  } finally {
    body?.destroy(); // a part cut mid-body only unpipes: close its file
    watchdog.dispose();
  }
}

/** Runs one S3 call under a stall watchdog, so an answer that never comes cannot hang the worker. */
async function guarded<T>(deps: Pick<MultipartDeps, 'stallTimeoutMs' | 'signal'>, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const watchdog = new StallWatchdog(deps.stallTimeoutMs, deps.signal);
  try {
    return await call(watchdog.signal);
  } catch (err) {
    throw watchdog.reason ?? err;
  } finally {
    watchdog.dispose();
  }
}

async function hashRange(path: string, start: number, bytes: number): Promise<{ sha256Hex: string; sha256B64: string; md5Hex: string }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  for await (const chunk of createReadStream(path, { start, end: start + bytes - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
    sha.update(chunk);
    md5.update(chunk);
  }
  const digest = sha.digest();
  return { sha256Hex: digest.toString('hex'), sha256B64: digest.toString('base64'), md5Hex: md5.digest('hex') };
}

function sameEtag(a: string, b: string): boolean {
  return a.replaceAll('"', '') === b.replaceAll('"', '');
}

async function abortQuietly(input: Pick<PutImageInput, 'bucket' | 'key'>, deps: Pick<MultipartDeps, 'client'>, uploadId: string): Promise<void> {
  try {
    await deps.client.send(new AbortMultipartUploadCommand({ Bucket: input.bucket, Key: input.key, UploadId: uploadId }),
      { abortSignal: AbortSignal.timeout(30_000) });
  } catch {
    // Best effort: a bucket lifecycle rule for incomplete uploads is the backstop (docs/OPERATIONS.md).
  }
}
