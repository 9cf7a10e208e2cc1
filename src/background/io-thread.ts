import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from '../ledger/open.js';
import type { Logger } from '../log.js';
import { digestInline, type FileDigest, type FileHasher } from '../spool/file-hasher.js';
import { IO_THREAD_SOURCE } from './io-thread-source.js';

/** SQLite's default: checkpoint once the WAL holds this many pages. */
const AUTO_CHECKPOINT_PAGES = 1000;

export interface CheckpointRole {
  /** The service's connection: it stops checkpointing itself while the thread does it. */
  db: Db;
  file: string;
  intervalMs?: number;
}

type Reply =
  | { id: number; sha256: string; bytes: number }
  | { id: number; error: string; code?: string }
  | { checkpointError: string }
  | { checkpointFailed: string };

interface Job {
  path: string;
  resolve: (d: FileDigest) => void;
  reject: (err: Error) => void;
}

/**
 * One worker thread for the work that would otherwise stall the event loop. One thread, not one per job: each
 * V8 isolate costs ~10 MB of RSS, and peak RSS under 150 concurrent 4 MB uploads is held to 200 MB
 * (docs/BENCHMARKS.md, issue 7).
 *
 * - **File hashes.** SHA-256 of a 4 MB image is ~2 ms of CPU; hashed on the event loop as the body streamed
 *   in, it was a quarter of the main thread's time under 150 concurrent uploads. The spool reads the file back
 *   here while it fsyncs it, so the ack waits no longer, and the hash is of the bytes on disk: what the
 *   uploader will send and check against.
 * - **WAL checkpoints.** SQLite checkpoints inside whichever commit takes the WAL past 1000 pages; at a
 *   million rows about one claim in a hundred also copied the WAL into the database and fsynced it (claim
 *   p99 3-5 ms against 0.1-0.3 ms without). Here a connection of its own checkpoints every `intervalMs`.
 *
 * If the thread fails, both roles come back to the service thread (logged): hashing inline, and SQLite's
 * automatic checkpoints, so the WAL cannot grow without bound.
 */
export class IoThread implements FileHasher {
  private worker: Worker | null;
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private closing = false;

  /** `source` replaces the thread's code in tests, to make it fail. */
  constructor(private readonly log: Logger, private readonly checkpoint: CheckpointRole | null = null, source = IO_THREAD_SOURCE) {
    const workerData = checkpoint
      ? { checkpoint: { driver: createRequire(import.meta.url).resolve('better-sqlite3'), file: checkpoint.file, intervalMs: checkpoint.intervalMs ?? 200 } }
      : {};
    const worker = new Worker(source, { eval: true, workerData });
    checkpoint?.db.pragma('wal_autocheckpoint = 0');
    worker.on('message', (reply: Reply) => this.onReply(reply));
    worker.once('error', (err) => this.fallBack(err.message));
    worker.once('exit', (code) => {
      if (!this.closing) this.fallBack(`exited with code ${code}`);
    });
    worker.unref();
    this.worker = worker;
  }

  digest(path: string): Promise<FileDigest> {
    const worker = this.worker;
    if (!worker) return digestInline(path);
    return new Promise<FileDigest>((resolve, reject) => {
      const id = this.nextId++;
      this.jobs.set(id, { path, resolve, reject });
      worker.postMessage({ id, path });
    });
  }

  /** Stops the thread once its jobs are answered; the service's connection checkpoints again (and on close). */
  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    this.worker = null;
    if (worker) {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref(); // unref'd while running; waiting for its exit must keep the process up
      worker.postMessage('stop'); // after every hash job already posted: the thread answers them first
      await exited;
    }
    this.rehashInline();
    this.restoreAutoCheckpoint();
  }

  private onReply(reply: Reply): void {
    if ('checkpointError' in reply) {
      this.log.warn({ err: reply.checkpointError }, 'background WAL checkpoint failed; retrying at the next interval');
    } else if ('checkpointFailed' in reply) {
      this.log.error({ reason: reply.checkpointFailed }, 'background WAL checkpoints could not start; checkpointing on the service thread');
      this.restoreAutoCheckpoint();
    } else {
      const job = this.jobs.get(reply.id);
      if (!job) return;
      this.jobs.delete(reply.id);
      if ('error' in reply) job.reject(Object.assign(new Error(reply.error), { code: reply.code }));
      else job.resolve({ sha256: reply.sha256, bytes: reply.bytes });
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
    for (const job of pending) digestInline(job.path).then(job.resolve, job.reject);
  }

  /** SQLite's own checkpoints on the service connection again; setting it twice is harmless. */
  private restoreAutoCheckpoint(): void {
    if (!this.checkpoint) return;
    try {
      this.checkpoint.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    } catch {
      // the ledger is closing
    }
  }
}
