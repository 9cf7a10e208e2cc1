import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { SpoolError, errnoCode } from '../errors.js';
import { DEFAULT_FORMAT_POLICY, type FormatPolicy } from '../meta/format-policy.js';
import type { ImageFormat } from '../meta/sniff.js';
import { DirSync, fsyncPath, mkdirDurable } from './dir-sync.js';
import { DirectFileSink } from './direct-sink.js';
import { inlineHasher, type DigestOptions, type FileDigest, type FileHasher } from './file-hasher.js';
import { SpoolFileSink } from './file-sink.js';
import type { ImageSink } from './image-meter.js';
import { DIRECT_ALIGN, type StagingPool } from './staging.js';

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
  open(path: string, flags: string | number, mode: number): Promise<FileHandle>;
}

/** How image files are written, decided by SpoolStore.init(). */
export type SpoolWriteMode =
  | { direct: true }
  /** Through the page cache: SPOOL_DIRECT_IO=off, or the filesystem refused O_DIRECT (`reason`). */
  | { direct: false; reason: string };

/** Linux's O_DIRECT (undefined on platforms without it). */
const O_DIRECT: number | undefined = (constants as { O_DIRECT?: number }).O_DIRECT;
const CREATE_EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/**
 * A body declared smaller than this goes through the page cache even where O_DIRECT is on (see receive), and
 * the page-cache sink gathers this much before each write (src/spool/file-sink.ts).
 */
export const PAGE_CACHE_BELOW_BYTES = 256 * 1024;

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

  /** False only under BENCH_UNSAFE_NO_FSYNC (config.ts): the bench's measure of what durability costs. */
  private readonly fsync: boolean;
  /** Hashes written files; the service passes its I/O thread (src/background/). */
  private readonly hasher: FileHasher;
  /** Staging blocks for O_DIRECT writes; null = write through the page cache. */
  private readonly staging: StagingPool | null;
  private mode: SpoolWriteMode = { direct: false, reason: 'not initialised' };
  /** IMAGE_FORMATS: what a body's first bytes must be for it to be stored. */
  private readonly formats: FormatPolicy;

  constructor(readonly spoolDir: string, private readonly maxImageBytes: number,
    options: { fsync?: boolean; hasher?: FileHasher; staging?: StagingPool | null; formats?: FormatPolicy } = {}) {
    this.fsync = options.fsync ?? true;
    this.formats = options.formats ?? DEFAULT_FORMAT_POLICY;
    this.hasher = options.hasher ?? inlineHasher;
    this.staging = options.staging ?? null;
    this.imagesDir = path.join(spoolDir, IMAGES_SUBDIR);
    this.dirSync = new DirSync(this.imagesDir);
  }

  /** Creates the directories and decides whether image files are written with O_DIRECT. */
  async init(): Promise<SpoolWriteMode> {
    await mkdirDurable(this.imagesDir, 0o700);
    await fsyncPath(this.imagesDir);
    this.mode = await this.chooseWriteMode();
    return this.mode;
  }

  get writeMode(): SpoolWriteMode {
    return this.mode;
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
   * Streams `source` to `<id>.part`, counting, sniffing and hashing as it goes, and fsyncs it. With O_DIRECT
   * the blocks are hashed as they are written; through the page cache the file is read back for its hash
   * while it is fsynced. Either way the length on disk is checked against the bytes received.
   *
   * `sizeHint` (the request's Content-Length, when known): a body smaller than 256 KiB goes through the page
   * cache. Its copy there costs little, while an O_DIRECT write of it is one synchronous,
   * file-extending device write plus a truncate. On the scale bench O_DIRECT for every image gave 558 small
   * images/s against 997 with SPOOL_DIRECT_IO=off, but in runs where a bench fault had that service spending
   * a core elsewhere, so the size of the gap is uncertain (docs/BENCHMARKS.md, issue 7).
   */
  async receive(id: string, source: AsyncIterable<Buffer>, sizeHint?: number): Promise<SpooledFile> {
    if (this.degradedReason) throw new SpoolError('spool_degraded', `spool is degraded: ${this.degradedReason}`);
    const tmpPath = path.join(this.imagesDir, id + PART_SUFFIX);
    const small = sizeHint !== undefined && sizeHint < PAGE_CACHE_BELOW_BYTES;
    const direct = this.mode.direct && !small ? this.staging : null;
    const handle = await this.openExclusive(tmpPath, direct !== null);
    const sink: ImageSink = direct
      ? new DirectFileSink(handle, this.maxImageBytes, direct, this.hasher.session(tmpPath), this.formats)
      : new SpoolFileSink(handle, this.maxImageBytes, PAGE_CACHE_BELOW_BYTES, this.formats);
    try {
      for await (const chunk of source) await sink.write(chunk as Buffer);
      const { bytes, format, sha256 } = await sink.end();
      const [digest] = await Promise.all([sha256 === undefined ? this.hasher.digest(tmpPath) : onDisk(handle, sha256), this.syncFile(handle)]);
      await handle.close();
      if (digest.bytes !== bytes) {
        throw new SpoolError('spool_degraded', `image ${id}: ${bytes} bytes written but ${digest.bytes} on disk in ${tmpPath}`);
      }
      return { id, tmpPath, bytes, format, sha256: digest.sha256 };
    } catch (err) {
      sink.abort();
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

  /**
   * Makes a received file durable under another row's path (relative to the spool): a resend restoring bytes
   * that row lost. The same bytes may already be there (a concurrent resend): the rename replaces them with
   * their equal, and on failure only this request's temporary file is removed, never what is at `relPath`.
   */
  async commitAs(file: SpooledFile, relPath: string): Promise<string> {
    try {
      await rename(file.tmpPath, this.absolutePath(relPath));
      if (this.fsync) await this.dirSync.sync();
    } catch (err) {
      await unlinkQuietly(file.tmpPath);
      throw this.classify(err);
    }
    return relPath;
  }

  /** SHA-256 and length (and MD5 if asked) of a spooled file, read back off the event loop when the hasher is a thread. */
  digest(absolutePath: string, o?: DigestOptions): Promise<FileDigest> {
    return this.hasher.digest(absolutePath, o);
  }

  /** Removes a file that will never be acknowledged (its row failed) or is no longer needed. */
  async discard(absolutePath: string): Promise<void> {
    await unlinkQuietly(absolutePath);
  }

  private async openExclusive(tmpPath: string, direct: boolean): Promise<FileHandle> {
    try {
      // direct only in the O_DIRECT mode, which chooseWriteMode() gives only where O_DIRECT is defined
      return await this.fileOps.open(tmpPath, direct ? CREATE_EXCLUSIVE | (O_DIRECT as number) : 'wx', 0o600);
    } catch (err) {
      throw this.classify(err);
    }
  }

  /**
   * O_DIRECT when there is a staging pool and the spool's filesystem takes an aligned O_DIRECT write (some
   * do not: older tmpfs, some FUSE and network filesystems). The probe is a `.part` file, so a crash leaves
   * nothing recovery would keep.
   */
  private async chooseWriteMode(): Promise<SpoolWriteMode> {
    if (!this.staging) return { direct: false, reason: 'SPOOL_DIRECT_IO=off' };
    if (O_DIRECT === undefined) return { direct: false, reason: `O_DIRECT is not available on ${process.platform}` };
    const probe = path.join(this.imagesDir, `direct-io-probe${PART_SUFFIX}`);
    const block = await this.staging.acquire();
    let handle: FileHandle | null = null;
    try {
      handle = await this.fileOps.open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | O_DIRECT, 0o600);
      block.buf.fill(0, 0, DIRECT_ALIGN);
      await handle.write(block.buf, 0, DIRECT_ALIGN, 0);
      return { direct: true };
    } catch (err) {
      return { direct: false, reason: `the spool's filesystem refused an O_DIRECT write (${errnoCode(err) ?? String(err)})` };
    } finally {
      this.staging.release(block);
      await handle?.close().catch(() => undefined);
      await unlinkQuietly(probe);
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

/** The file's length as the filesystem has it, with the hash its sink took on the way. */
async function onDisk(handle: FileHandle, sha256: string): Promise<FileDigest> {
  const { size } = await handle.stat();
  return { sha256, bytes: size };
}

export async function unlinkQuietly(p: string): Promise<void> {
  try {
    await unlink(p);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
