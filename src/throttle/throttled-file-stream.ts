import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { SpoolError, errnoCode } from '../errors.js';
import type { TokenBucket } from './token-bucket.js';

export interface ThrottledFileOptions {
  path: string;
  expectedBytes: number;
  expectedSha256Hex: string;
  bucket: TokenBucket;
  signal: AbortSignal;
  /** Called on every grant and read, so a watchdog can tell a stalled socket from a throttled one. */
  onProgress?: (sentBytes: number) => void;
  /** Called while the stream waits for tokens (true) and when it gets them (false). */
  onThrottleWait?: (waiting: boolean) => void;
}

/**
 * A request body that reads the spooled file and releases it through the shared bucket one chunk at a
 * time, so the socket never sees more than the budget allows. The last chunk is held back until the
 * whole file has been hashed: if the bytes on disk no longer match the ledger, the stream fails before
 * the body is complete, and S3 never stores a corrupt object (even a server that ignores checksums).
 */
export function throttledFileStream(options: ThrottledFileOptions): Readable {
  const { bucket } = options;
  return Readable.from(releaseChunks(options), { objectMode: false, highWaterMark: bucket.chunkBytes });
}

async function* releaseChunks(options: ThrottledFileOptions): AsyncGenerator<Buffer> {
  const { bucket, signal } = options;
  const hash = createHash('sha256');
  let read = 0;
  let sent = 0;
  let heldBack: Buffer | null = null;
  const release = async (piece: Buffer): Promise<Buffer> => {
    options.onThrottleWait?.(true);
    await bucket.take(piece.length, signal);
    options.onThrottleWait?.(false);
    sent += piece.length;
    options.onProgress?.(sent);
    return piece;
  };
  const file = createReadStream(options.path, { highWaterMark: 64 * 1024, signal });
  try {
    for await (const chunk of file as AsyncIterable<Buffer>) {
      hash.update(chunk);
      read += chunk.length;
      for (const piece of split(chunk, bucket.chunkBytes)) {
        if (heldBack) yield await release(heldBack);
        heldBack = piece;
      }
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new SpoolError('spool_file_missing', `spooled file ${options.path} is missing`, { cause: err });
    throw err;
  }
  const digest = hash.digest('hex');
  if (read !== options.expectedBytes || digest !== options.expectedSha256Hex) {
    throw new SpoolError('spool_file_corrupt',
      `spooled file ${options.path} has ${read} bytes sha256 ${digest}, ledger says ${options.expectedBytes} bytes sha256 ${options.expectedSha256Hex}`);
  }
  if (heldBack) yield await release(heldBack);
}

function* split(chunk: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < chunk.length; offset += size) yield chunk.subarray(offset, offset + size);
}
