import { stat } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import type { Logger } from '../log.js';
import { lockHolders } from './lock-holders.js';

/** What one background checkpoint pass saw (the I/O thread, src/background/io-thread-worker.ts). */
export interface CheckpointPass {
  /** Size of the WAL file on disk after the pass. */
  walBytes: number;
  /** Frames in the WAL, and how many of them the database now holds too. */
  frames: number;
  checkpointed: number;
  /** A TRUNCATE checkpoint emptied the file in this pass. */
  truncated: boolean;
}

export interface WalWatchOptions {
  /** The ledger (`ledger.db`); its WAL is `<dbFile>-wal`. */
  dbFile: string;
  /** LEDGER_WAL_MAX_BYTES. */
  limitBytes: number;
  log: Logger;
  /** At most one warning per this long while a reader pins the WAL. @default 60000 */
  warnEveryMs?: number;
  now?: () => number;
}

/**
 * Watches the ledger's WAL for what a long read transaction does to it. A reader keeps its snapshot's frames
 * in the WAL: checkpoints cannot copy past it and writers cannot start the file over, so every commit
 * appends (17 MB grew to 447 MB in two minutes of ingest; issue 18). Once it leaves, the I/O thread's
 * checkpoints copy everything and a TRUNCATE empties the file (journal_size_limit does it at the next commit
 * if the thread is gone). Here: the size for metrics and status, and a warning, at most one a minute,
 * while a reader pins a WAL over LEDGER_WAL_MAX_BYTES, naming the process where /proc/locks tells.
 */
export class WalWatch {
  private last: CheckpointPass | null = null;
  private lastWarnAt = -Infinity;
  private warned = false;
  private readonly now: () => number;

  constructor(private readonly o: WalWatchOptions) {
    this.now = o.now ?? Date.now;
  }

  get walPath(): string {
    return `${this.o.dbFile}-wal`;
  }

  get limitBytes(): number {
    return this.o.limitBytes;
  }

  /**
   * True while the WAL is over the limit and the last checkpoint could not copy every frame: a reader holds
   * an older snapshot. Null before the first pass, or when no background checkpoints run.
   */
  get pinned(): boolean | null {
    const p = this.last;
    return p === null ? null : p.walBytes > this.o.limitBytes && p.checkpointed < p.frames;
  }

  /** Each background checkpoint pass; null when they stop (the I/O thread is gone: its last pass would go stale). */
  onPass(pass: CheckpointPass | null): void {
    this.last = pass;
    if (pass === null) return;
    if (this.pinned === true) {
      if (this.now() - this.lastWarnAt >= (this.o.warnEveryMs ?? 60_000)) {
        this.lastWarnAt = this.now();
        this.warned = true;
        void this.warn(pass);
      }
    } else if (this.warned && pass.walBytes <= this.o.limitBytes) {
      this.warned = false;
      this.o.log.info({ wal_bytes: pass.walBytes, truncated: pass.truncated }, 'ledger WAL checkpointed back under LEDGER_WAL_MAX_BYTES: the reader that pinned it is gone');
    }
  }

  /** The WAL's size on disk now (0 when there is none). */
  async walBytes(): Promise<number> {
    try {
      return (await stat(this.walPath)).size;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 0;
      throw err;
    }
  }

  private async warn(pass: CheckpointPass): Promise<void> {
    const holders = await lockHolders(this.o.dbFile).catch(() => null);
    const who = holders && holders.readers.length > 0 ? holders.readers.join(', ') : 'another connection';
    this.o.log.warn({
      alert: 'ledger_wal_pinned', wal_bytes: pass.walBytes, wal_max_bytes: this.o.limitBytes,
      frames_not_checkpointed: pass.frames - pass.checkpointed, readers: holders?.readers ?? null,
    }, `a read transaction (${who}) keeps the ledger's WAL from being checkpointed: ${Math.round(pass.walBytes / 1e6)} MB, over LEDGER_WAL_MAX_BYTES; it grows with every write until that transaction ends, then shrinks`);
  }
}
