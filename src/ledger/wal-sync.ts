import { open, type FileHandle } from 'node:fs/promises';
import { SpoolError, errorMessage } from '../errors.js';

/**
 * The WAL could not be synced: the commits waiting on it are in the ledger (other readers see them) but may not
 * be on disk. Not acknowledged; their files stay with their rows, and recovery sorts them out after the restart.
 */
export class WalSyncFailed extends SpoolError {
  constructor(walPath: string, cause: unknown) {
    super('ledger_unavailable',
      `the ledger's WAL (${walPath}) could not be synced to disk (${errorMessage(cause)}); nothing is acknowledged until the service restarts`, { cause });
  }
}

/** How a WalSync makes the file durable; replaced in tests to count, delay or fail syncs. */
export type DatasyncFile = (file: FileHandle) => Promise<void>;

/**
 * fdatasync of the ledger's WAL on libuv's thread pool, for commits made without SQLite's own fsync.
 *
 * With synchronous=FULL, SQLite fsyncs the WAL inside every commit, on the calling thread: the event loop
 * stops for the length of the fsync. Ingest commits are made with synchronous=NORMAL instead, which writes
 * the same frames in the same order but skips that fsync, and their callers wait for `sync()`, which
 * fdatasyncs the same file (fsync acts on the file, whichever descriptor asks) off the event loop. Acks
 * still follow the WAL fsync (test/durability/syscall-order.test.ts checks it with strace). Measured with
 * the WAL's fsync slowed by 10 / 30 ms (a busy disk): 1.16x / 1.42x the small-image ingest rate of the
 * in-commit fsync, p99 0.26 / 0.23 s against 0.30 / 1.15 s; on this VM's fast disk, no difference
 * (bench/slow-wal-sync.ts, docs/BENCHMARKS.md, issue 7).
 *
 * Commits that ask while a sync is running wait for the next one, which starts when it ends: a sync that
 * began before a commit's frames were written cannot cover them. Everyone who asks meanwhile shares it, so
 * under load there is one fdatasync in flight and one waiting, however many commits there are.
 *
 * The descriptor stays valid: SQLite deletes the WAL only when the last connection to the database closes,
 * and the service's own connection is open for as long as this object is used (it is closed first).
 *
 * Checkpoints shorten the file under it (the I/O thread's TRUNCATE once a pinning reader left, and
 * journal_size_limit when a commit starts the WAL over; issue 18), always on the same inode, so the
 * descriptor still names the live WAL. That keeps the reasoning above: a checkpoint (synchronous=FULL on the
 * thread's connection) fsyncs the WAL before it copies frames and fsyncs the database before it empties or
 * restarts the WAL, so a commit whose frames leave the file is already durable in the database; a `sync()`
 * after that covers the commits written to the shorter file since.
 *
 * A failed fdatasync fails every later `sync()` too. After an fsync error Linux may have dropped the dirty
 * pages it could not write, so a later fsync that succeeds proves nothing about them (PostgreSQL's
 * "fsyncgate"). Nothing is acknowledged again until the service restarts and reads the WAL from disk.
 */
export class WalSync {
  private file: Promise<FileHandle> | null = null;
  private running: Promise<void> | null = null;
  private waiting: Promise<void> | null = null;
  private failure: WalSyncFailed | null = null;
  private count = 0;

  constructor(private readonly walPath: string, private readonly datasync: DatasyncFile = (file) => file.datasync()) {}

  /** fdatasync calls started so far (to see the sharing in tests and benchmarks). */
  get syncs(): number {
    return this.count;
  }

  /** Why syncs fail from now on, once one has failed. */
  get failed(): string | null {
    return this.failure?.message ?? null;
  }

  /** Resolves once every WAL frame written before the call is on disk; rejects (WalSyncFailed) if that cannot be known. */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return this.waiting;
    if (!this.running) return this.start();
    const next = this.running.catch(() => undefined).then(() => {
      this.waiting = null;
      return this.start();
    });
    this.waiting = next;
    return next;
  }

  /**
   * Resolves once every sync asked for so far has ended. Each ingest commit asks for one as it commits
   * (GroupCommitter), so the rows of every commit made so far are then on disk. For readers about to act on
   * rows (the uploader, the webhook sender): it starts no fdatasync of its own, so an upload costs none.
   */
  caughtUp(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return this.waiting ?? this.running ?? Promise.resolve();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.waiting]);
    const file = this.file;
    this.file = null;
    if (file) await (await file.catch(() => null))?.close();
  }

  private start(): Promise<void> {
    const run = this.run().finally(() => {
      if (this.running === run) this.running = null;
    });
    this.running = run;
    return run;
  }

  private async run(): Promise<void> {
    if (this.failure) throw this.failure;
    this.count++;
    try {
      this.file ??= open(this.walPath, 'r');
      await this.datasync(await this.file);
    } catch (err) {
      this.failure ??= new WalSyncFailed(this.walPath, err);
      throw this.failure;
    }
  }
}
