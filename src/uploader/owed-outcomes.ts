import { isLedgerBusy } from '../ledger/busy.js';
import type { ImageRow } from '../ledger/types.js';
import type { Logger } from '../log.js';
import { describeFailure } from './classify.js';

/** An attempt's outcome the ledger has yet to record. */
interface Owed {
  outcome: string;
  write: () => void;
  then: () => void | Promise<void>;
}

/** Another process holding the ledger's write lock is logged at most this often, not once per try. */
const LOCKED_LOG_MS = 30_000;

/**
 * The outcomes of finished upload attempts (uploaded, retry, dead, released), written to the ledger. If a
 * write fails (another process holds the ledger's lock, disk full, I/O error) the row stays `uploading`: the
 * outcome is kept here and written again at every turn of the uploader's workers, and the row is never
 * claimed meanwhile (it is not queued). A crash before that requeues it at startup, and a resend lands on
 * the same key. So a locked ledger never fails an image, and never loses an upload S3 has.
 */
export class OwedOutcomes {
  private readonly owed = new Map<string, Owed>();
  private lastLockedLog = -Infinity;

  constructor(private readonly log: Logger) {}

  get size(): number {
    return this.owed.size;
  }

  ids(): string[] {
    return [...this.owed.keys()];
  }

  /** Writes the outcome, then runs `then` (logs, events, cleanup), which learns whether the write was late. */
  async record(row: ImageRow, outcome: string, write: () => void, then: (late: boolean) => void | Promise<void>): Promise<void> {
    try {
      write();
    } catch (err) {
      this.owed.set(row.id, { outcome, write, then: () => then(true) });
      if (isLedgerBusy(err)) this.locked(outcome);
      else this.log.error({ id: row.id, outcome, err: describeFailure(err) }, `${outcome === 'uploaded' ? 'uploaded, but the' : 'the'} ledger write failed; will retry it`);
      return;
    }
    await then(false);
  }

  /** Writes the owed outcomes again, oldest first, stopping at the first the ledger still refuses. */
  async retry(): Promise<void> {
    for (const [id, owed] of [...this.owed]) {
      try {
        owed.write();
      } catch {
        return; // still failing: try again at the next turn
      }
      this.owed.delete(id);
      await owed.then();
    }
  }

  /** Another process holds the ledger's write lock: `waiting` names what waits for it. Rate-limited. */
  locked(waiting: string): void {
    if (Date.now() - this.lastLockedLog < LOCKED_LOG_MS) return;
    this.lastLockedLog = Date.now();
    this.log.warn({ waiting, outcomes_owed: this.owed.size },
      'uploader: the ledger is locked by another process (a write transaction); uploads wait and outcomes are recorded once it ends');
  }
}
