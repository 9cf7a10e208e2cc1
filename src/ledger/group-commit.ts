import { isLedgerBusy, LedgerBusy } from './busy.js';
import type { InsertResult, NewImage } from './types.js';

interface Pending {
  row: NewImage;
  resolve: (result: InsertResult) => void;
  reject: (err: unknown) => void;
  /** Set when the row first finds the ledger locked: past it, the caller gets LedgerBusy. */
  giveUpAt?: number;
}

/** Pauses between tries while another connection holds the write lock: short at first, then capped. */
const LOCK_RETRY_FIRST_MS = 5;
const LOCK_RETRY_MAX_MS = 50;

export interface GroupCommitOptions {
  /** Hears how long each transaction took until durable (its WAL sync included), and its rows, for metrics. */
  onCommit?: (seconds: number, rows: number) => void;
  /** Caps the rows of one transaction; 1 is the naive one-fsync-per-ingest baseline of bench/. */
  maxBatch?: number;
  /**
   * Makes what `insertMany` committed durable, when it commits without its own fsync (src/ledger/wal-sync.ts).
   * Called as each transaction commits, before anything else runs (WalSync.caughtUp relies on it). Without
   * it, `insertMany` must be durable when it returns (synchronous=FULL).
   */
  durable?: () => Promise<void>;
  /**
   * How long a row waits, on timers, while another connection holds the ledger's write lock (LEDGER_LOCK_WAIT_MS);
   * then its caller gets LedgerBusy (503 ledger_busy). The connection must not wait for locks itself
   * (stopWaitingForLocks): SQLite's busy wait would stop the event loop. @default 0
   */
  lockWaitMs?: number;
}

/**
 * Group commit: inserts that arrive while one event-loop turn is running are written in one
 * transaction, so N concurrent ingests pay one WAL fsync instead of N. Each caller's promise settles
 * only after the transaction holding its row is durable, so no ack ever precedes durability. With
 * `durable`, the next batch commits while the last one's WAL sync runs, and the syncs are shared.
 */
export class GroupCommitter {
  private pending: Pending[] = [];
  private scheduled = false;
  private batches = 0;
  /** Tries in a row that found the ledger locked; sets the next pause. */
  private lockedTries = 0;
  private readonly onCommit: (seconds: number, rows: number) => void;
  private readonly maxBatch: number;
  private readonly durable: (() => Promise<void>) | null;
  private readonly lockWait: number;

  constructor(private readonly insertMany: (rows: readonly NewImage[]) => InsertResult[], options: GroupCommitOptions = {}) {
    this.onCommit = options.onCommit ?? (() => undefined);
    this.maxBatch = options.maxBatch ?? Infinity;
    this.durable = options.durable ?? null;
    this.lockWait = options.lockWaitMs ?? 0;
    if (!(this.maxBatch >= 1)) throw new RangeError(`expected maxBatch to be at least 1, got ${this.maxBatch}`);
    if (!(this.lockWait >= 0)) throw new RangeError(`expected lockWaitMs to be at least 0, got ${this.lockWait}`);
  }

  /** How long a row waits for another connection's write lock (LEDGER_LOCK_WAIT_MS). */
  get lockWaitMs(): number {
    return this.lockWait;
  }

  /** Number of transactions committed so far (to see the batching in tests and benchmarks). */
  get commits(): number {
    return this.batches;
  }

  insert(row: NewImage): Promise<InsertResult> {
    return new Promise<InsertResult>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      // While the ledger is locked, a retry timer is already set: the row joins that try.
      this.schedule(0);
    });
  }

  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.flush();
    };
    if (delayMs === 0) setImmediate(run);
    else setTimeout(run, delayMs);
  }

  private flush(): void {
    const batch = this.pending.length > this.maxBatch ? this.pending.splice(0, this.maxBatch) : this.pending;
    if (batch === this.pending) this.pending = [];
    const started = performance.now();
    let results: InsertResult[] | null = null;
    try {
      results = this.insertMany(batch.map((p) => p.row));
    } catch (batchError) {
      if (isLedgerBusy(batchError)) this.waitForLock(batch, batchError);
      else this.oneByOne(batch, batchError);
    }
    if (results) {
      this.lockedTries = 0;
      this.settle(batch, results, started);
    }
    // Rows beyond the cap go in the next transaction, one event-loop turn later.
    if (this.pending.length > 0) this.schedule(0);
  }

  /**
   * Another connection holds the write lock: nothing was written. The rows go back to the head of the queue
   * and are tried again after a pause on a timer (the event loop keeps serving), each until its own
   * `lockWaitMs` has passed since it first met the lock; then its caller gets LedgerBusy.
   */
  private waitForLock(rows: Pending[], cause: unknown): void {
    const now = performance.now();
    const keep: Pending[] = [];
    for (const p of rows) {
      p.giveUpAt ??= now + this.lockWait;
      if (now >= p.giveUpAt) p.reject(new LedgerBusy(`image ${p.row.id} not recorded within LEDGER_LOCK_WAIT_MS (${this.lockWait} ms)`, cause));
      else keep.push(p);
    }
    if (keep.length === 0) return;
    this.pending = [...keep, ...this.pending];
    const pause = Math.min(LOCK_RETRY_MAX_MS, LOCK_RETRY_FIRST_MS * 2 ** this.lockedTries++);
    const soonest = Math.min(...keep.map((p) => p.giveUpAt as number));
    this.schedule(Math.max(1, Math.min(pause, Math.ceil(soonest - now))));
  }

  /** One bad row must not fail its neighbours: retry them one by one and report each on its own. */
  private oneByOne(batch: Pending[], batchError: unknown): void {
    const locked: Pending[] = [];
    let lockError: unknown = null;
    for (const p of batch) {
      const started = performance.now();
      let result: InsertResult | undefined;
      try {
        [result] = this.insertMany([p.row]);
      } catch (err) {
        if (isLedgerBusy(err)) {
          locked.push(p);
          lockError = err;
        } else {
          p.reject(batch.length === 1 ? batchError : err);
        }
        continue;
      }
      this.settle([p], [result as InsertResult], started);
    }
    if (locked.length > 0) this.waitForLock(locked, lockError);
  }

  /** Answers the callers once their transaction is durable, or fails them all if that cannot be known. */
  private settle(batch: Pending[], results: InsertResult[], started: number): void {
    const answer = (): void => {
      batch.forEach((p, i) => p.resolve(results[i] as InsertResult));
      this.committed(started, batch.length);
    };
    if (!this.durable) {
      answer();
      return;
    }
    this.durable().then(answer, (err: unknown) => {
      for (const p of batch) p.reject(err);
    });
  }

  /** After the callers are answered and outside the try blocks: an observer can never make a committed row look failed. */
  private committed(started: number, rows: number): void {
    this.batches++;
    this.onCommit((performance.now() - started) / 1000, rows);
  }
}
