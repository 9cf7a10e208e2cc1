import type { Db } from './open.js';

/** The settings row the probe rewrites; its `updated_at` is the last time a health check wrote the ledger. */
export const HEALTH_PROBE_KEY = 'health_probe';

/**
 * Commits one tiny row and reads it back, waiting at most `lockWaitMs` for another process's write lock;
 * throws SQLite's error otherwise. Only a commit proves the ledger takes writes: BEGIN IMMEDIATE and
 * ROLLBACK write nothing, and pass on a ledger whose WAL can no longer be written (measured: with the
 * WAL made immutable, they pass while every INSERT fails with SQLITE_IOERR_WRITE). The cost is one
 * small fsync'd commit per check.
 */
export function probeLedgerWrite(db: Db, lockWaitMs: number): void {
  const busyTimeout = db.pragma('busy_timeout', { simple: true });
  db.pragma(`busy_timeout = ${lockWaitMs}`);
  try {
    const now = new Date().toISOString();
    db.prepare(`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`).run(HEALTH_PROBE_KEY, now, now);
    const read = db.prepare('SELECT value FROM settings WHERE key = ?').get(HEALTH_PROBE_KEY) as { value: string } | undefined;
    if (read?.value !== now) throw new Error(`ledger read back ${JSON.stringify(read?.value)} after writing ${now}`);
  } finally {
    if (typeof busyTimeout === 'number' && db.open) db.pragma(`busy_timeout = ${busyTimeout}`);
  }
}
