import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError, errnoCode } from '../errors.js';
import type { ImageFormat } from '../meta/sniff.js';
import { DirSync, fsyncPath } from './dir-sync.js';
import { digestInline, type FileDigest, type FileHasher } from './file-hasher.js';
import { SpoolFileSink } from './file-sink.js';

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
/** Bytes gathered (as received, uncopied) before each write: fewer thread-pool round trips per image. */
const SINK_MIN_WRITE = 256 * 1024;
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

  /** False only under BENCH_UNSAFE_NO_FSYNC (config.ts): the bench's measure of what durability costs. */
  private readonly fsync: boolean;
  /** Reads each written file back for its SHA-256; the service passes its I/O thread (src/background/). */
  private readonly hasher: FileHasher;

  constructor(readonly spoolDir: string, private readonly maxImageBytes: number, options: { fsync?: boolean; hasher?: FileHasher } = {}) {
    this.fsync = options.fsync ?? true;
    this.hasher = options.hasher ?? { digest: digestInline };
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

  /**
   * Streams `source` to `<id>.part`, counting and sniffing as it goes, then fsyncs it while the hasher reads
   * it back: the SHA-256 is of the bytes on disk, and costs the ack no time beyond the fsync's.
   */
  async receive(id: string, source: AsyncIterable<Buffer>): Promise<SpooledFile> {
    if (this.degradedReason) throw new SpoolError('spool_degraded', `spool is degraded: ${this.degradedReason}`);
    const tmpPath = path.join(this.imagesDir, id + PART_SUFFIX);
    const handle = await this.openExclusive(tmpPath);
    try {
      const sink = new SpoolFileSink(handle, this.maxImageBytes, SINK_MIN_WRITE);
      for await (const chunk of source) await sink.write(chunk as Buffer);
      const { bytes, format } = await sink.end();
      const [digest] = await Promise.all([this.hasher.digest(tmpPath), this.syncFile(handle)]);
      await handle.close();
      if (digest.bytes !== bytes) {
        throw new SpoolError('spool_degraded', `image ${id}: ${bytes} bytes written but ${digest.bytes} read back from ${tmpPath}`);
      }
      return { id, tmpPath, bytes, format, sha256: digest.sha256 };
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
      if (this.fsync) await this.dirSync.sync();
    } catch (err) {
      await unlinkQuietly(file.tmpPath);
      await unlinkQuietly(finalPath);
      throw this.classify(err);
    }
    return this.relativePath(finalPath);
  }

  /** SHA-256 and length of a spooled file, read back off the event loop when the hasher is a thread. */
  digest(absolutePath: string): Promise<FileDigest> {
    return this.hasher.digest(absolutePath);
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

  private async syncFile(handle: FileHandle): Promise<void> {
    if (!this.fsync) return;
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

export async function unlinkQuietly(p: string): Promise<void> {
  try {
    await unlink(p);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
