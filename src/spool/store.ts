import { createHash } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError, errnoCode } from '../errors.js';
import { SNIFF_BYTES, sniffImage, type ImageFormat } from '../meta/sniff.js';
import { DirSync, fsyncPath } from './dir-sync.js';

/** An image written and fsynced under its temporary name, not yet visible to recovery as a real file. */
export interface SpooledFile {
  id: string;
  tmpPath: string;
  bytes: number;
  sha256: string;
  format: ImageFormat;
}

/** The file operations the write path uses: a seam so tests can inject EIO where no faulty disk exists. */
export interface SpoolFileOps {
  open(path: string, flags: string, mode: number): Promise<FileHandle>;
}

export const IMAGES_SUBDIR = 'images';
export const PART_SUFFIX = '.part';

/**
 * The durable file half of an ingest (maildir order): stream to `<id>.part` in the final directory,
 * fsync it, rename it, fsync the directory. Only then may the ledger row be written and the ack sent.
 */
export class SpoolStore {
  readonly imagesDir: string;
  private readonly dirSync: DirSync;
  private degradedReason: string | null = null;

  /** Replaceable only to inject I/O faults in tests (test/integration/spool-eio.test.ts). */
  fileOps: SpoolFileOps = { open };

  constructor(readonly spoolDir: string, private readonly maxImageBytes: number) {
    this.imagesDir = path.join(spoolDir, IMAGES_SUBDIR);
    this.dirSync = new DirSync(this.imagesDir);
  }

  async init(): Promise<void> {
    await mkdir(this.imagesDir, { recursive: true, mode: 0o700 });
    // A directory created now must itself survive a crash: fsync its parent.
    await fsyncPath(this.spoolDir);
    await fsyncPath(this.imagesDir);
  }

  /** Set after an fsync or I/O error: the kernel may have dropped our pages, so stop accepting. */
  get degraded(): string | null {
    return this.degradedReason;
  }

  relativePath(absolute: string): string {
    return path.relative(this.spoolDir, absolute);
  }

  absolutePath(relative: string): string {
    return path.join(this.spoolDir, relative);
  }

  finalPath(id: string, format: ImageFormat): string {
    return path.join(this.imagesDir, `${id}.${format.ext}`);
  }

  /** Streams `source` to `<id>.part`, hashing, counting and sniffing as it goes, and fsyncs it. */
  async receive(id: string, source: AsyncIterable<Buffer>): Promise<SpooledFile> {
    if (this.degradedReason) throw new SpoolError('spool_degraded', `spool is degraded: ${this.degradedReason}`);
    const tmpPath = path.join(this.imagesDir, id + PART_SUFFIX);
    const handle = await this.openExclusive(tmpPath);
    try {
      const result = await this.writeAll(handle, source);
      await this.syncFile(handle);
      await handle.close();
      return { id, tmpPath, ...result };
    } catch (err) {
      await handle.close().catch(() => undefined);
      await unlinkQuietly(tmpPath);
      throw this.classify(err);
    }
  }

  /** Makes a received file durable under its final name. Returns the path relative to the spool. */
  async commit(file: SpooledFile): Promise<string> {
    const finalPath = this.finalPath(file.id, file.format);
    try {
      await rename(file.tmpPath, finalPath);
      await this.dirSync.sync();
    } catch (err) {
      await unlinkQuietly(file.tmpPath);
      await unlinkQuietly(finalPath);
      throw this.classify(err);
    }
    return this.relativePath(finalPath);
  }

  /** Removes a file that will never be acknowledged (its row failed) or is no longer needed. */
  async discard(absolutePath: string): Promise<void> {
    await unlinkQuietly(absolutePath);
  }

  private async openExclusive(tmpPath: string): Promise<FileHandle> {
    try {
      return await this.fileOps.open(tmpPath, 'wx', 0o600);
    } catch (err) {
      throw this.classify(err);
    }
  }

  private async writeAll(handle: FileHandle, source: AsyncIterable<Buffer>): Promise<Omit<SpooledFile, 'id' | 'tmpPath'>> {
    const hash = createHash('sha256');
    let bytes = 0;
    let format: ImageFormat | null = null;
    let head = Buffer.alloc(0);
    for await (const chunk of source) {
      bytes += chunk.length;
      if (bytes > this.maxImageBytes) {
        throw new SpoolError('image_too_large', `image exceeds MAX_IMAGE_BYTES (${this.maxImageBytes} bytes)`);
      }
      if (!format) {
        head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES)]);
        if (head.length >= SNIFF_BYTES) format = requireImage(head);
      }
      hash.update(chunk);
      await writeFully(handle, chunk);
    }
    if (bytes === 0) throw new SpoolError('missing_image', 'the image part is empty');
    format ??= requireImage(head);
    return { bytes, sha256: hash.digest('hex'), format };
  }

  private async syncFile(handle: FileHandle): Promise<void> {
    try {
      await handle.sync();
    } catch (err) {
      // Never retry a failed fsync: Linux may have dropped the dirty pages and report success next time.
      this.degradedReason = `fsync failed: ${errnoCode(err) ?? String(err)}`;
      throw new SpoolError('spool_degraded', `could not make the image durable: ${this.degradedReason}`, { cause: err });
    }
  }

  private classify(err: unknown): unknown {
    if (err instanceof SpoolError) return err;
    const code = errnoCode(err);
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return new SpoolError('disk_full', 'the spool disk is full; retry later', { cause: err, headers: { 'Retry-After': '30' } });
    }
    if (code === 'EIO') {
      this.degradedReason = 'I/O error on the spool disk';
      return new SpoolError('spool_degraded', 'I/O error on the spool disk', { cause: err });
    }
    return err;
  }
}

function requireImage(head: Buffer): ImageFormat {
  const format = sniffImage(head);
  if (!format) throw new SpoolError('not_an_image', 'image is not JPEG, PNG, WebP, GIF, TIFF or HEIC (checked by its first bytes)');
  return format;
}

/** FileHandle.write may write fewer bytes than asked (a full disk can do this without throwing). */
async function writeFully(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write: no bytes written'), { code: 'ENOSPC' });
    offset += bytesWritten;
  }
}

export async function unlinkQuietly(p: string): Promise<void> {
  try {
    await unlink(p);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
