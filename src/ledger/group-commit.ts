import type { InsertResult, NewImage } from './types.js';

interface Pending {
  row: NewImage;
  resolve: (result: InsertResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: inserts that arrive while one event-loop turn is running are written in one
 * transaction, so N concurrent ingests pay one WAL fsync instead of N. Each caller's promise settles
 * only after the transaction holding its row has committed, so no ack ever precedes durability.
 */
export class GroupCommitter {
  private pending: Pending[] = [];
  private scheduled = false;
  private batches = 0;

  /**
   * `onCommit` hears how long each committed transaction took (its WAL fsync included), for metrics.
   * `maxBatch` caps the rows of one transaction; 1 is the naive one-fsync-per-ingest baseline of bench/.
   */
  constructor(
    private readonly insertMany: (rows: readonly NewImage[]) => InsertResult[],
    private readonly onCommit: (seconds: number, rows: number) => void = () => undefined,
    private readonly maxBatch = Infinity,
  ) {
    if (!(maxBatch >= 1)) throw new RangeError(`expected maxBatch to be at least 1, got ${maxBatch}`);
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
    batch.forEach((p, i) => p.resolve(results[i] as InsertResult));
    this.committed(started, batch.length);
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
      p.resolve(result as InsertResult);
      this.committed(started, 1);
    }
  }

  /** After the callers are answered and outside the try blocks: an observer can never make a committed row look failed. */
  private committed(started: number, rows: number): void {
    this.batches++;
    this.onCommit((performance.now() - started) / 1000, rows);
  }
}
