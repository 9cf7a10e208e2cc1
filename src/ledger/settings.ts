import type { Db } from './open.js';

/** Small persistent key/value settings, in the ledger so they share its durability and backups. */
export class SettingsStore {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      get: db.prepare('SELECT value FROM settings WHERE key = ?'),
      set: db.prepare(`INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
      delete: db.prepare('DELETE FROM settings WHERE key = ?'),
    };
  }

  get(key: string): string | undefined {
    return (this.stmts.get.get(key) as { value: string } | undefined)?.value;
  }

  set(key: string, value: string): void {
    this.stmts.set.run(key, value, new Date().toISOString());
  }

  delete(key: string): void {
    this.stmts.delete.run(key);
  }
}
