import Database from 'better-sqlite3';
import { SpoolError } from '../errors.js';

export type Db = Database.Database;

/**
 * Opens the ledger with the settings durability depends on, and proves they took effect.
 * better-sqlite3's bundled SQLite defaults WAL connections to synchronous=NORMAL, which does not fsync
 * each commit: an acknowledged row could vanish on power loss. FULL (2) fsyncs the WAL on every commit.
 */
export interface OpenLedgerOptions {
  readonly?: boolean;
  /** BENCH_UNSAFE_NO_FSYNC only (config.ts): commits without fsync. */
  unsafeNoSync?: boolean;
  /**
   * journal_size_limit: when this connection's next commit starts the WAL over from its beginning (after a
   * checkpoint copied every frame), it truncates the file to this size. Without it a WAL that a long reader
   * let grow to 447 MB stayed that size until a restart (issue 18). See src/ledger/wal-watch.ts.
   */
  walLimitBytes?: number;
}

export function openLedger(file: string, options: OpenLedgerOptions = {}): Db {
  const db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  if (options.readonly) return db;
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  const journal = db.pragma('journal_mode', { simple: true });
  const sync = db.pragma('synchronous', { simple: true });
  if (journal !== 'wal' || sync !== 2) {
    db.close();
    throw new SpoolError('ledger_unavailable', `ledger ${file} opened with journal_mode=${String(journal)} synchronous=${String(sync)}, need wal/2 (FULL)`);
  }
  if (options.walLimitBytes !== undefined) db.pragma(`journal_size_limit = ${Math.floor(options.walLimitBytes)}`);
  if (options.unsafeNoSync === true) db.pragma('synchronous = OFF');
  return db;
}

/**
 * Runs `fn` with synchronous=NORMAL: its commit skips the WAL fsync, which runs on the event loop and, while
 * 150 images are being fsynced, can block it for many milliseconds. The WAL is written in order, so the next
 * fsync of it (a FULL commit's, or WalSync's) covers these frames too. Used for writes a restart redoes
 * anyway: extracted metadata (rows with metadata_at NULL are extracted again at start) and upload claims
 * (every `uploading` row is queued again at start); and for ingest commits, whose callers wait for WalSync
 * before anything is acknowledged (src/ledger/wal-sync.ts).
 */
export function withoutFsync<T>(db: Db, fn: () => T): T {
  const before = db.pragma('synchronous', { simple: true }) as number;
  if (before !== 2) return fn(); // already without fsyncs (BENCH_UNSAFE_NO_FSYNC)
  db.pragma('synchronous = NORMAL');
  try {
    return fn();
  } finally {
    db.pragma(`synchronous = ${before}`);
  }
}
