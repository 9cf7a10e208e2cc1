import type { FileHandle } from 'node:fs/promises';
import { DEFAULT_FORMAT_POLICY, type FormatPolicy } from '../meta/format-policy.js';
import type { HashSession } from './file-hasher.js';
import { ImageMeter, type ImageSink, type WrittenImage } from './image-meter.js';
import { releaseChunk } from './release-chunk.js';
import { DIRECT_ALIGN, STAGING_BLOCK_BYTES, type StagingBlock, type StagingPool } from './staging.js';

/**
 * Writes an image body to a file opened with O_DIRECT, hashing it on the way. Why not the page cache: a
 * spooled image is written once and read once, minutes or hours later, so caching it only costs. Every byte
 * written through the page cache is first copied into a fresh page; on this machine kind (a VM whose free
 * memory is handed back to the host) that copy dominated the write path and swung the disk's rate by 2-3x
 * from round to round, while O_DIRECT writes held steady at 445-493 files/s on an eighth of the CPU
 * (docs/BENCHMARKS.md, issue 7). Databases write their own files this way for the same reason.
 *
 * Chunks are gathered as received (uncopied) until a staging block's worth has arrived, then copied into a
 * page-aligned block from the shared pool, which is written at its aligned offset while the I/O thread
 * hashes it in place. The last block is padded to the alignment and the file truncated to the body's length.
 * A chunk's memory is released as soon as all of it is in a block (src/spool/release-chunk.ts).
 */
export class DirectFileSink implements ImageSink {
  private readonly meter: ImageMeter;
  /** What is still to copy of each gathered chunk: the chunk itself, or the rest of it after a block filled. */
  private gathered: Buffer[] = [];
  /** The gathered chunks as received, in the same order: released once all of one is copied. */
  private received: Buffer[] = [];
  private gatheredBytes = 0;
  /** File offset of the next block: always a multiple of STAGING_BLOCK_BYTES. */
  private position = 0;

  constructor(private readonly handle: FileHandle, maxBytes: number, private readonly pool: StagingPool, private readonly hash: HashSession,
    formats: FormatPolicy = DEFAULT_FORMAT_POLICY) {
    this.meter = new ImageMeter(maxBytes, formats);
  }

  async write(chunk: Buffer): Promise<void> {
    this.meter.take(chunk);
    this.gathered.push(chunk);
    this.received.push(chunk);
    this.gatheredBytes += chunk.length;
    while (this.gatheredBytes >= STAGING_BLOCK_BYTES) await this.flush(STAGING_BLOCK_BYTES);
  }

  async end(): Promise<WrittenImage> {
    const written = this.meter.finish();
    const tail = this.gatheredBytes;
    if (tail > 0) await this.flush(tail);
    // The padding of the last block is not part of the image.
    if (tail % DIRECT_ALIGN !== 0) await this.handle.truncate(written.bytes);
    return { ...written, sha256: await this.hash.finish() };
  }

  abort(): void {
    this.gathered = [];
    this.received = [];
    this.hash.abort();
  }

  /** Moves the first `length` gathered bytes through one block: copy, then write and hash side by side. */
  private async flush(length: number): Promise<void> {
    const block = await this.pool.acquire();
    try {
      this.copyInto(block.buf, length);
      const padded = Math.ceil(length / DIRECT_ALIGN) * DIRECT_ALIGN;
      block.buf.fill(0, length, padded);
      // Both must have let go of the block before it goes back to the pool, even when one fails.
      const [wrote, hashed] = await Promise.allSettled([writeBlock(this.handle, block, padded, this.position), this.hash.update(block, length)]);
      if (wrote.status === 'rejected') throw wrote.reason;
      if (hashed.status === 'rejected') throw hashed.reason;
      this.position += length;
    } finally {
      this.pool.release(block);
    }
  }

  private copyInto(target: Buffer, length: number): void {
    let filled = 0;
    while (filled < length) {
      const chunk = this.gathered[0] as Buffer;
      const n = Math.min(chunk.length, length - filled);
      // fill() with a buffer of exactly the range's length is one native memcpy. copy() and set() into shared
      // memory take V8's byte-wise "relaxed" move instead: 16% of the event loop under 150 uploads.
      if (n > 0) target.fill(n === chunk.length ? chunk : chunk.subarray(0, n), filled, filled + n);
      filled += n;
      if (n === chunk.length) {
        this.gathered.shift();
        releaseChunk(this.received.shift() as Buffer);
      } else this.gathered[0] = chunk.subarray(n);
    }
    this.gatheredBytes -= length;
  }
}

/**
 * One aligned write. A short O_DIRECT write cannot be finished from where it stopped (the rest would start
 * unaligned), and in practice means the disk is full: it is reported as ENOSPC.
 */
async function writeBlock(handle: FileHandle, block: StagingBlock, length: number, position: number): Promise<void> {
  const { bytesWritten } = await handle.write(block.buf, 0, length, position);
  if (bytesWritten !== length) {
    throw Object.assign(new Error(`short write: ${bytesWritten} of ${length} bytes`), { code: 'ENOSPC' });
  }
}
