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

  constructor(private readonly insertMany: (rows: readonly NewImage[]) => InsertResult[]) {}

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
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    try {
      const results = this.insertMany(batch.map((p) => p.row));
      this.batches++;
      batch.forEach((p, i) => p.resolve(results[i] as InsertResult));
    } catch (batchError) {
      // One bad row must not fail its neighbours: retry them one by one and report each on its own.
      for (const p of batch) {
        try {
          const [result] = this.insertMany([p.row]);
          this.batches++;
          p.resolve(result as InsertResult);
        } catch (err) {
          p.reject(batch.length === 1 ? batchError : err);
        }
      }
    }
  }
}
