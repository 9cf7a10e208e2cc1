import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from '../ledger/open.js';
import type { CheckpointPass } from '../ledger/wal-watch.js';
import type { Logger } from '../log.js';
import { digestInline, inlineSession, type DigestOptions, type FileDigest, type FileHasher, type HashSession } from '../spool/file-hasher.js';
import type { StagingBlock, StagingPool } from '../spool/staging.js';

/**
 * The thread's module (io-thread-worker.ts): its compiled copy beside this file when running from dist/.
 * Tests run src/ itself: Node >= 22.18 runs the .ts file as it is (type stripping); on older Node, the copy
 * `npm test` built into dist/.
 */
function ioThreadModule(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.js')) return new URL('./io-thread-worker.js', here);
  const stripsTypes = Boolean((process.features as unknown as Record<string, unknown>)['typescript']);
  return new URL(stripsTypes ? './io-thread-worker.ts' : '../../dist/src/background/io-thread-worker.js', here);
}

/** SQLite's default: checkpoint once the WAL holds this many pages. */
const AUTO_CHECKPOINT_PAGES = 1000;

export interface CheckpointRole {
  /** The service's connection: it stops checkpointing itself while the thread does it. */
  db: Db;
  file: string;
  intervalMs?: number;
  /** Once a pass copied every frame, a WAL larger than this is emptied (TRUNCATE). @default Infinity */
  truncateAboveBytes?: number;
  /** Hears every pass (WalWatch.onPass), and `null` when the thread stops checkpointing. */
  onPass?: (pass: CheckpointPass | null) => void;
}

export interface IoThreadOptions {
  /** Run the ledger's WAL checkpoints on the thread. */
  checkpoint?: CheckpointRole | null;
  /** Hash blocks of this pool in place (HashSession); without it, sessions hash on the calling thread. */
  staging?: StagingPool | null;
  /** Replaces the thread's code in tests, to make it fail. */
  source?: string;
}

/** What the thread answers a job with; a job with an id gets exactly one reply. */
type JobReply = { id: number; sha256?: string; bytes?: number; md5?: string } | { id: number; error: string; code?: string };
type Reply = JobReply | { checkpointPass: CheckpointPass } | { checkpointError: string } | { checkpointFailed: string };

interface Job {
  done: (reply: { sha256?: string; bytes?: number; md5?: string }) => void;
  reject: (err: Error) => void;
  /** The thread is gone without answering: finish the job another way. */
  orphaned: () => void;
}

/**
 * One worker thread for the work that would otherwise stall the event loop. One thread, not one per job: each
 * V8 isolate costs ~10 MB of RSS, and peak RSS under 150 concurrent 4 MB uploads is held to 200 MB
 * (docs/BENCHMARKS.md, issue 7).
 *
 * - **File hashes.** SHA-256 of a 4 MB image is ~2 ms of CPU; hashed on the event loop as the body streamed
 *   in, it was a quarter of the main thread's time under 150 concurrent uploads. O_DIRECT writes are hashed
 *   here block by block, in place in the shared staging pool, while a thread-pool thread writes the same
 *   block (`session`). Whole files are read back here: the uploader's check before it sends a file, and the
 *   spool's hash where the filesystem has no O_DIRECT (`digest`).
 * - **WAL checkpoints.** SQLite checkpoints inside whichever commit takes the WAL past 1000 pages; at a
 *   million rows about one claim in a hundred also copied the WAL into the database and fsynced it (claim
 *   p99 3-5 ms against 0.1-0.3 ms without). Here a connection of its own checkpoints every `intervalMs`.
 *
 * If the thread fails, both roles come back to the service thread (logged): hashing inline (a session the
 * thread held is finished by reading its file back), and SQLite's automatic checkpoints, so the WAL cannot
 * grow without bound.
 */
export class IoThread implements FileHasher {
  private worker: Worker | null;
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private nextSession = 0;
  private outbox: Array<Record<string, unknown>> = [];
  private closing = false;
  private readonly checkpoint: CheckpointRole | null;
  private readonly staging: StagingPool | null;

  constructor(private readonly log: Logger, options: IoThreadOptions = {}) {
    const checkpoint = options.checkpoint ?? null;
    this.checkpoint = checkpoint;
    this.staging = options.staging ?? null;
    const workerData = {
      checkpoint: checkpoint
        ? {
          driver: createRequire(import.meta.url).resolve('better-sqlite3'), file: checkpoint.file, intervalMs: checkpoint.intervalMs ?? 200,
          truncateAboveBytes: checkpoint.truncateAboveBytes ?? Infinity,
        }
        : null,
      staging: this.staging?.memory ?? null,
    };
    const worker = options.source === undefined ? new Worker(ioThreadModule(), { workerData }) : new Worker(options.source, { eval: true, workerData });
    checkpoint?.db.pragma('wal_autocheckpoint = 0');
    worker.on('message', (replies: Reply | Reply[]) => {
      for (const reply of Array.isArray(replies) ? replies : [replies]) this.onReply(reply);
    });
    worker.once('error', (err) => this.fallBack(err.message));
    worker.once('exit', (code) => {
      if (!this.closing) this.fallBack(`exited with code ${code}`);
    });
    worker.unref();
    this.worker = worker;
  }

  digest(path: string, o: DigestOptions = {}): Promise<FileDigest> {
    if (!this.worker) return digestInline(path, o);
    return new Promise<FileDigest>((resolve, reject) => {
      this.post({ op: 'digest', path, md5: o.md5 === true }, {
        done: (r) => resolve({ sha256: r.sha256 ?? '', bytes: r.bytes ?? 0, ...(r.md5 === undefined ? {} : { md5: r.md5 }) }),
        reject,
        orphaned: () => void digestInline(path, o).then(resolve, reject),
      });
    });
  }

  session(path: string): HashSession {
    if (!this.worker || !this.staging) return inlineSession();
    return new ThreadSession(this, this.nextSession++, path);
  }

  /**
   * Queues a job for the thread; false (and nothing queued) when the thread is gone. The jobs one callback
   * queues leave in one message when it returns (a microtask: waiting for the next turn of the event loop
   * batched more, but the added latency of every block's hash cost more throughput than it saved), and the
   * thread answers each message's jobs in one message.
   */
  post(message: Record<string, unknown>, job: Job | null): boolean {
    if (!this.worker) return false;
    const id = this.nextId++;
    if (job) this.jobs.set(id, job);
    if (this.outbox.push({ ...message, id }) === 1) queueMicrotask(() => this.flush());
    return true;
  }

  private flush(): void {
    const batch = this.outbox;
    this.outbox = [];
    // A thread gone meanwhile: its jobs were handed to the fallback already (rehashInline).
    if (batch.length > 0) this.worker?.postMessage(batch);
  }

  /** Stops the thread once its jobs are answered; the service's connection checkpoints again (and on close). */
  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    this.worker = null;
    if (worker) {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref(); // unref'd while running; waiting for its exit must keep the process up
      this.flush();
      worker.postMessage('stop'); // after every hash job already posted: the thread answers them first
      await exited;
    }
    this.rehashInline();
    this.restoreAutoCheckpoint();
  }

  private onReply(reply: Reply): void {
    if ('checkpointPass' in reply) {
      this.checkpoint?.onPass?.(reply.checkpointPass);
    } else if ('checkpointError' in reply) {
      this.log.warn({ err: reply.checkpointError }, 'background WAL checkpoint failed; retrying at the next interval');
    } else if ('checkpointFailed' in reply) {
      this.log.error({ reason: reply.checkpointFailed }, 'background WAL checkpoints could not start; checkpointing on the service thread');
      this.restoreAutoCheckpoint();
    } else {
      const job = this.jobs.get(reply.id);
      if (!job) return;
      this.jobs.delete(reply.id);
      if ('error' in reply) job.reject(Object.assign(new Error(reply.error), { code: reply.code }));
      else job.done(reply);
    }
  }

  private fallBack(reason: string): void {
    if (!this.worker) return;
    this.worker = null;
    this.log.error({ reason }, 'I/O thread stopped; hashing files and checkpointing the WAL on the service thread from now on');
    this.rehashInline();
    this.restoreAutoCheckpoint();
  }

  /** Jobs the thread never answered are done here, so no ingest waits forever. */
  private rehashInline(): void {
    const pending = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of pending) job.orphaned();
  }

  /** SQLite's own checkpoints on the service connection again; setting it twice is harmless. */
  private restoreAutoCheckpoint(): void {
    if (!this.checkpoint) return;
    this.checkpoint.onPass?.(null);
    try {
      this.checkpoint.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    } catch {
      // the ledger is closing
    }
  }
}

/**
 * A file's SHA-256 kept on the I/O thread, fed blocks of the shared staging pool. If the thread dies, the
 * blocks it did not hash are gone, so the session is finished by reading the whole file back instead.
 */
class ThreadSession implements HashSession {
  private lost = false;

  constructor(private readonly io: IoThread, private readonly sid: number, private readonly path: string) {}

  update(block: StagingBlock, length: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const lose = (): void => {
        this.lost = true;
        resolve();
      };
      if (this.lost) return resolve();
      const posted = this.io.post({ op: 'update', sid: this.sid, offset: block.offset, length }, { done: () => resolve(), reject, orphaned: lose });
      if (!posted) lose();
    });
  }

  finish(): Promise<string> {
    const readBack = (): Promise<string> => digestInline(this.path).then((d) => d.sha256);
    if (this.lost) return readBack();
    return new Promise<string>((resolve, reject) => {
      const fallBack = (): void => void readBack().then(resolve, reject);
      const posted = this.io.post({ op: 'final', sid: this.sid }, { done: (r) => resolve(r.sha256 ?? ''), reject, orphaned: fallBack });
      if (!posted) fallBack();
    });
  }

  abort(): void {
    this.io.post({ op: 'drop', sid: this.sid }, null);
  }
}
