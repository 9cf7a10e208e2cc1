import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { SpoolError, errnoCode } from '../errors.js';
import type { TokenBucket } from './token-bucket.js';

export interface ThrottledFileOptions {
  path: string;
  /** Byte offset in the file where the body starts (a multipart part). @default 0 */
  start?: number;
  /** Bytes to send from `start` (the whole file, or one part), and their SHA-256. */
  expectedBytes: number;
  expectedSha256Hex: string;
  bucket: TokenBucket;
  signal: AbortSignal;
  /** Called on every grant and read, so a watchdog can tell a stalled socket from a throttled one. */
  onProgress?: (sentBytes: number) => void;
  /** Called while the stream waits for tokens (true) and when it gets them (false). */
  onThrottleWait?: (waiting: boolean) => void;
  /**
   * Send the last `trainBytes` of the file as one probe train (TokenBucket.takeTrain) instead of chunk
   * by chunk. 0 or absent: no train.
   */
  trainBytes?: number;
  /** Called just before the final bytes are handed on, with performance.now(): the response clock starts. */
  onLastBytes?: (at: number, tailBytes: number) => void;
}

/**
 * A request body that reads the spooled file and releases it through the shared bucket one chunk at a
 * time, so the socket never sees more than the budget allows. The last chunk is held back until the
 * whole file has been hashed: if the bytes on disk no longer match the ledger, the stream fails before
 * the body is complete, and S3 never stores a corrupt object (even a server that ignores checksums).
 * A probe upload holds back a longer tail and releases it as one train (see UplinkEstimator).
 */
export function throttledFileStream(options: ThrottledFileOptions): Readable {
  const { bucket } = options;
  return Readable.from(releaseChunks(options), { objectMode: false, highWaterMark: bucket.chunkBytes });
}

async function* releaseChunks(options: ThrottledFileOptions): AsyncGenerator<Buffer> {
  const { bucket, signal } = options;
  const hash = createHash('sha256');
  const trainBytes = Math.min(options.trainBytes ?? 0, options.expectedBytes);
  // Everything past this offset waits until the whole file is verified: at least the last piece.
  const holdFrom = options.expectedBytes - Math.max(1, trainBytes);
  const tail: Buffer[] = [];
  let read = 0;
  let sent = 0;
  const release = async (piece: Buffer, train: boolean): Promise<Buffer> => {
    options.onThrottleWait?.(true);
    if (train) await bucket.takeTrain(piece.length, signal);
    // A live rate drop shrinks the chunk below pieces cut before it (the held-back tail, or the piece being
    // released): take them in chunks of the size in force at each take, never one the bucket refuses.
    else for (let taken = 0; taken < piece.length;) {
      const n = Math.min(bucket.chunkBytes, piece.length - taken);
      await bucket.take(n, signal);
      taken += n;
    }
    options.onThrottleWait?.(false);
    sent += piece.length;
    options.onProgress?.(sent);
    return piece;
  };
  // A whole file is read to its end, so one longer than the ledger says is caught; a part reads its range
  // (`end` is inclusive), the whole file having been verified before the first part.
  const range = options.start === undefined ? {} : { start: options.start, end: options.start + options.expectedBytes - 1 };
  const file = createReadStream(options.path, { highWaterMark: 64 * 1024, signal, ...range });
  try {
    for await (const chunk of file as AsyncIterable<Buffer>) {
      hash.update(chunk);
      for (const piece of split(chunk, bucket.chunkBytes)) {
        read += piece.length;
        if (read > options.expectedBytes) throw corrupt(options, read, 'not computed: the file is longer than the ledger says');
        if (read > holdFrom) tail.push(piece);
        else yield await release(piece, false);
      }
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new SpoolError('spool_file_missing', `spooled file ${options.path} is missing`, { cause: err });
    throw err;
  }
  const digest = hash.digest('hex');
  if (read !== options.expectedBytes || digest !== options.expectedSha256Hex) throw corrupt(options, read, digest);
  const last = trainBytes > 0 ? [Buffer.concat(tail)] : tail;
  for (let i = 0; i < last.length; i++) {
    const piece = await release(last[i] as Buffer, trainBytes > 0);
    if (i === last.length - 1) options.onLastBytes?.(performance.now(), piece.length);
    yield piece;
  }
}

function corrupt(options: ThrottledFileOptions, read: number, digest: string): SpoolError {
  return new SpoolError('spool_file_corrupt',
    `spooled file ${options.path} has ${read} bytes sha256 ${digest}, ledger says ${options.expectedBytes} bytes sha256 ${options.expectedSha256Hex}`);
}

function* split(chunk: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < chunk.length; offset += size) yield chunk.subarray(offset, offset + size);
}
