import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Db } from './open.js';

/** SQLite's default: checkpoint once the WAL holds this many pages. */
const AUTO_CHECKPOINT_PAGES = 1000;

/**
 * The thread's code (CommonJS, inline so it runs the same from src/ under vitest and from dist/): its own
 * connection copies the WAL into the database with PASSIVE checkpoints, which never wait for and never block
 * the service's writes; each failure is reported; "stop" closes it.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = FULL');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err && err.message) }); }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * WAL checkpoints off the event loop. SQLite checkpoints inside whichever commit takes the WAL past 1000
 * pages; at a million rows a claim dirties ~9 pages, so about one claim in a hundred also copied the WAL into
 * the database and fsynced it: claim p99 3-5 ms against 0.1-0.3 ms without (docs/BENCHMARKS.md, issue 7),
 * and a group commit of ingests stalls the event loop the same way. A worker thread with its own connection
 * checkpoints every `intervalMs` instead. If the worker fails, the service's connection takes its automatic
 * checkpoints back, so the WAL cannot grow without bound.
 */
export class Checkpointer {
  private worker: Worker | null = null;
  private stopping = false;

  constructor(private readonly db: Db, private readonly file: string, private readonly log: Logger, private readonly intervalMs = 200) {}

  start(): void {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER, { eval: true, workerData: { file: this.file, intervalMs: this.intervalMs, driver } });
    this.worker = worker;
    this.db.pragma('wal_autocheckpoint = 0');
    worker.on('message', (m: { error?: string }) => {
      if (m.error) this.log.warn({ err: m.error }, 'background WAL checkpoint failed; retrying at the next interval');
    });
    worker.once('error', (err) => this.fallBack(err.message));
    worker.once('exit', (code) => {
      if (!this.stopping) this.fallBack(`exited with code ${code}`);
    });
    worker.unref();
  }

  /** Stops the thread; the service's connection checkpoints (and, on close, truncates) as SQLite does by default. */
  async stop(): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    this.worker = null;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref(); // unref'd while running; waiting for its exit must keep the process up
    worker.postMessage('stop');
    await exited;
    this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  }

  private fallBack(reason: string): void {
    this.worker = null;
    this.log.error({ reason }, 'background WAL checkpoint thread stopped; checkpointing on the service thread again');
    try {
      this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    } catch {
      // the ledger is closing
    }
  }
}
