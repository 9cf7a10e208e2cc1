import type { InsertResult, NewImage } from './types.js';

interface Pending {
  row: NewImage;
  resolve: (result: InsertResult) => void;
  reject: (err: unknown) => void;
}

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
  private readonly onCommit: (seconds: number, rows: number) => void;
  private readonly maxBatch: number;
  private readonly durable: (() => Promise<void>) | null;

  constructor(private readonly insertMany: (rows: readonly NewImage[]) => InsertResult[], options: GroupCommitOptions = {}) {
    this.onCommit = options.onCommit ?? (() => undefined);
    this.maxBatch = options.maxBatch ?? Infinity;
    this.durable = options.durable ?? null;
    if (!(this.maxBatch >= 1)) throw new RangeError(`expected maxBatch to be at least 1, got ${this.maxBatch}`);
  }

  /** Number of transactions committed so far (to see the batching in tests and benchmarks). */
  get commits(): number {
    return this.batches;
  }

  insert(row: NewImage): Promise<InsertResult> {
    return new Promise<InsertResult>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.pending.length > this.maxBatch ? this.pending.splice(0, this.maxBatch) : this.pending;
    if (batch === this.pending) this.pending = [];
    // Rows beyond the cap go in the next transaction, one event-loop turn later.
    this.scheduled = this.pending.length > 0;
    if (this.scheduled) setImmediate(() => this.flush());
    const started = performance.now();
    let results: InsertResult[];
    try {
      results = this.insertMany(batch.map((p) => p.row));
    } catch (batchError) {
      this.oneByOne(batch, batchError);
      return;
    }
    this.settle(batch, results, started);
  }

  /** One bad row must not fail its neighbours: retry them one by one and report each on its own. */
  private oneByOne(batch: Pending[], batchError: unknown): void {
    for (const p of batch) {
      const started = performance.now();
      let result: InsertResult | undefined;
      try {
        [result] = this.insertMany([p.row]);
      } catch (err) {
        p.reject(batch.length === 1 ? batchError : err);
        continue;
      }
      this.settle([p], [result as InsertResult], started);
    }
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
