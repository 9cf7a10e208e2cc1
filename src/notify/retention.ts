import { errorMessage } from '../errors.js';
import { isLedgerBusy } from '../ledger/busy.js';
import type { Logger } from '../log.js';
import type { DeliveryLedger } from './deliveries.js';

const PRUNE_EVERY_MS = 3_600_000;
/** After another process's lock on the ledger stopped a prune: try again this soon, not in an hour. */
const AFTER_LOCKED_MS = 60_000;
/** Small batches: each is one short write transaction, so ingest commits are never held up for long. */
const BATCH = 5000;

/**
 * Deletes delivered and failed webhook deliveries older than NOTIFY_KEEP_HOURS, at start and hourly.
 * Pending ones stay whatever their age: they are still owed to the receiver.
 */
export class DeliveryRetention {
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;

  constructor(private readonly o: { deliveries: DeliveryLedger; keepMs: number; log: Logger; now?: () => Date }) {}

  start(): void {
    this.pruneNow();
    this.timer = setInterval(() => this.pruneNow(), PRUNE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.timer = null;
    this.retry = null;
  }

  /** Returns how many rows were deleted. */
  pruneNow(): number {
    const before = new Date((this.o.now?.() ?? new Date()).getTime() - this.o.keepMs);
    let total = 0;
    try {
      for (let n = BATCH; n === BATCH; total += n) n = this.o.deliveries.pruneFinished(before, BATCH);
    } catch (err) {
      const locked = isLedgerBusy(err) && this.timer !== null;
      this.o.log.warn({ err: errorMessage(err) }, `could not prune old webhook deliveries; will try again in ${locked ? 'a minute' : 'an hour'}`);
      if (locked) {
        this.retry ??= setTimeout(() => {
          this.retry = null;
          this.pruneNow();
        }, AFTER_LOCKED_MS);
        this.retry.unref();
      }
    }
    if (total > 0) this.o.log.info({ deleted: total, before: before.toISOString() }, 'pruned finished webhook deliveries');
    return total;
  }
}
