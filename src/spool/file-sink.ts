import type { FileHandle } from 'node:fs/promises';
import { DEFAULT_FORMAT_POLICY, type FormatPolicy } from '../meta/format-policy.js';
import { ImageMeter, type ImageSink, type WrittenImage } from './image-meter.js';

/**
 * Writes an image body to an open file through the page cache, counting and sniffing on the way: the sink
 * for filesystems without O_DIRECT (src/spool/direct-sink.ts is the usual one). Chunks are gathered, as
 * received (never copied or joined), until `minWrite` bytes are waiting, then leave in one writev: a 4 MB
 * image is ~16 thread-pool writes instead of one per socket chunk (~60), which matters when 150 bodies
 * arrive at once on a 2-core machine (docs/BENCHMARKS.md, issue 7).
 */
export class SpoolFileSink implements ImageSink {
  private readonly meter: ImageMeter;
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;

  constructor(private readonly handle: FileHandle, maxBytes: number, private readonly minWrite: number, formats: FormatPolicy = DEFAULT_FORMAT_POLICY) {
    this.meter = new ImageMeter(maxBytes, formats);
  }

  /**
   * Takes the next chunk; resolves when the sink can take another. The chunk is kept, not copied, until it is
   * written, so the caller must not reuse its memory (stream chunks are never reused).
   */
  async write(chunk: Buffer): Promise<void> {
    this.meter.take(chunk);
    this.gathered.push(chunk);
    this.gatheredBytes += chunk.length;
    if (this.gatheredBytes >= this.minWrite) await this.flush();
  }

  /** Writes what is still gathered; then the file holds the whole body (its SHA-256 is read back). */
  async end(): Promise<WrittenImage> {
    if (this.gatheredBytes > 0) await this.flush();
    return this.meter.finish();
  }

  /** Nothing to release: the gathered chunks are garbage once the sink is. */
  abort(): void {}

  private async flush(): Promise<void> {
    const buffers = this.gathered;
    this.gathered = [];
    this.gatheredBytes = 0;
    await writevFully(this.handle, buffers);
  }
}

/** writev may write fewer bytes than asked (a full disk can do this without throwing): write the rest. */
async function writevFully(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const total = rest.reduce((n, b) => n + b.length, 0);
    const { bytesWritten } = rest.length === 1 ? await handle.write(rest[0] as Buffer) : await handle.writev(rest);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write: no bytes written'), { code: 'ENOSPC' });
    if (bytesWritten >= total) return;
    rest = skip(rest, bytesWritten);
  }
}

/** The buffers after the first `n` bytes (views, no copies). */
function skip(buffers: Buffer[], n: number): Buffer[] {
  let left = n;
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (left >= b.length) {
      left -= b.length;
      continue;
    }
    out.push(left > 0 ? b.subarray(left) : b);
    left = 0;
  }
  return out;
}
