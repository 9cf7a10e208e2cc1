import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import type { UploadedRow } from '../ledger/uploaded-rows.js';
import { StallWatchdog } from './stall-watchdog.js';

/** One way the bucket differs from the ledger (or could not be checked). */
export type Finding = { id: string; s3_key: string } & (
  | { kind: 'missing' }
  | { kind: 'size_mismatch'; expected_bytes: number; actual_bytes: number }
  | { kind: 'checksum_mismatch'; expected_sha256: string; actual_sha256: string; from: 'metadata' | 'checksum' | 'body' }
  /** HEAD found neither our `sha256` metadata nor a whole-object SHA-256: only `--deep` can tell. */
  | { kind: 'checksum_missing' }
  | { kind: 'error'; message: string });

export interface CheckDeps {
  client: S3Client;
  bucket: string;
  /** GET and hash the body instead of trusting what HEAD reports. */
  deep: boolean;
  /** A request that makes no progress for this long is abandoned (reported as an error). */
  stallTimeoutMs: number;
}

/**
 * Compares one object with its ledger row. The uploader stores the SHA-256 twice (src/s3/put-image.ts,
 * multipart-upload.ts): as user metadata `sha256` (hex) and as `x-amz-checksum-sha256`, which S3 checks on
 * arrival; for a multipart object that checksum is a composite of the parts (`...-N`) and is not
 * comparable. HEAD trusts both as recorded; `deep` reads the bytes, which also catches an object
 * changed behind S3's back or a server that ignores checksums (the test server does).
 */
export async function checkObject(row: UploadedRow, deps: CheckDeps): Promise<Finding | null> {
  const base = { id: row.id, s3_key: row.s3_key };
  const watchdog = new StallWatchdog(deps.stallTimeoutMs, new AbortController().signal);
  try {
    return deps.deep ? await checkBody(row, deps, watchdog) : await checkHead(row, deps, watchdog.signal);
  } catch (err) {
    if (isNotFound(err)) return { ...base, kind: 'missing' };
    const reason = watchdog.reason ?? err;
    return { ...base, kind: 'error', message: reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason) };
  } finally {
    watchdog.dispose();
  }
}

async function checkHead(row: UploadedRow, deps: CheckDeps, signal: AbortSignal): Promise<Finding | null> {
  const base = { id: row.id, s3_key: row.s3_key };
  const head = await deps.client.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: row.s3_key, ChecksumMode: 'ENABLED' }), { abortSignal: signal });
  if (head.ContentLength !== row.bytes) return { ...base, kind: 'size_mismatch', expected_bytes: row.bytes, actual_bytes: head.ContentLength ?? -1 };
  const meta = head.Metadata?.['sha256'];
  if (meta !== undefined && meta.toLowerCase() !== row.sha256) {
    return { ...base, kind: 'checksum_mismatch', expected_sha256: row.sha256, actual_sha256: meta, from: 'metadata' };
  }
  const whole = head.ChecksumSHA256 !== undefined && head.ChecksumType !== 'COMPOSITE' && !/-\d+$/.test(head.ChecksumSHA256) ? head.ChecksumSHA256 : undefined;
  if (whole !== undefined) {
    const actual = Buffer.from(whole, 'base64').toString('hex');
    if (actual !== row.sha256) return { ...base, kind: 'checksum_mismatch', expected_sha256: row.sha256, actual_sha256: actual, from: 'checksum' };
  }
  return meta === undefined && whole === undefined ? { ...base, kind: 'checksum_missing' } : null;
}

/** Streams the body through SHA-256 (never buffered whole); the watchdog is fed by every chunk. */
async function checkBody(row: UploadedRow, deps: CheckDeps, watchdog: StallWatchdog): Promise<Finding | null> {
  const base = { id: row.id, s3_key: row.s3_key };
  const res = await deps.client.send(new GetObjectCommand({ Bucket: deps.bucket, Key: row.s3_key }), { abortSignal: watchdog.signal });
  const body = res.Body as Readable | undefined;
  try {
    if (res.ContentLength !== undefined && res.ContentLength !== row.bytes) {
      return { ...base, kind: 'size_mismatch', expected_bytes: row.bytes, actual_bytes: res.ContentLength };
    }
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of (body ?? []) as AsyncIterable<Buffer>) {
      watchdog.progress();
      hash.update(chunk);
      bytes += chunk.length;
    }
    if (bytes !== row.bytes) return { ...base, kind: 'size_mismatch', expected_bytes: row.bytes, actual_bytes: bytes };
    const actual = hash.digest('hex');
    return actual === row.sha256 ? null : { ...base, kind: 'checksum_mismatch', expected_sha256: row.sha256, actual_sha256: actual, from: 'body' };
  } finally {
    body?.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === 'NotFound' || err.name === 'NoSuchKey');
}
