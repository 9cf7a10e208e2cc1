import type { FileHandle } from 'node:fs/promises';
import { SpoolError } from '../errors.js';
import { SNIFF_BYTES, sniffImage, type ImageFormat } from '../meta/sniff.js';

/** What the sink learned about the bytes it wrote (their SHA-256 is taken from the file: see file-hasher.ts). */
export interface WrittenImage {
  bytes: number;
  format: ImageFormat;
}

/**
 * Writes an image body to an open file, counting and sniffing on the way. Chunks are gathered, as
 * received (never copied or joined), until `minWrite` bytes are waiting, then leave in one writev: a 4 MB
 * image is ~16 thread-pool writes instead of one per socket chunk (~60), which matters when 150 bodies
 * arrive at once on a 2-core machine (docs/BENCHMARKS.md, issue 7).
 */
export class SpoolFileSink {
  private bytes = 0;
  private format: ImageFormat | null = null;
  private head: Buffer = Buffer.alloc(0);
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;

  constructor(private readonly handle: FileHandle, private readonly maxBytes: number, private readonly minWrite: number) {}

  /**
   * Takes the next chunk; resolves when the sink can take another. The chunk is kept, not copied, until it is
   * written, so the caller must not reuse its memory (stream chunks are never reused).
   */
  async write(chunk: Buffer): Promise<void> {
    this.take(chunk);
    this.gathered.push(chunk);
    this.gatheredBytes += chunk.length;
    if (this.gatheredBytes >= this.minWrite) await this.flush();
  }

  /** Writes what is still gathered; then the file holds the whole body. */
  async end(): Promise<WrittenImage> {
    if (this.gatheredBytes > 0) await this.flush();
    if (this.bytes === 0) throw new SpoolError('missing_image', 'the image part is empty');
    return { bytes: this.bytes, format: this.format ?? requireImage(this.head) };
  }

  private async flush(): Promise<void> {
    const buffers = this.gathered;
    this.gathered = [];
    this.gatheredBytes = 0;
    await writevFully(this.handle, buffers);
  }

  private take(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) {
      throw new SpoolError('image_too_large', `image exceeds MAX_IMAGE_BYTES (${this.maxBytes} bytes)`);
    }
    if (!this.format) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, SNIFF_BYTES)]);
      if (this.head.length >= SNIFF_BYTES) this.format = requireImage(this.head);
    }
  }
}

function requireImage(head: Buffer): ImageFormat {
  const format = sniffImage(head);
  if (!format) throw new SpoolError('not_an_image', 'image is not JPEG, PNG, WebP, GIF, TIFF or HEIC (checked by its first bytes)');
  return format;
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
