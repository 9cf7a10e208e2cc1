import type { Migration } from './migrate.js';
import type { Db } from './open.js';

export interface SchemaStatus {
  /** Highest migration recorded in the ledger; 0 for an empty one. */
  current: number;
  /** Highest migration this build ships. */
  known: number;
  /** Migrations this build would apply, oldest first. */
  pending: Migration[];
  /** When each recorded migration was applied. */
  applied: Array<{ version: number; name: string; applied_at: string }>;
}

/** What `migrate` would do, read without writing (works on a read-only connection). */
export function schemaStatus(db: Db | null, migrations: Migration[]): SchemaStatus {
  const hasTable = db !== null && db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get() !== undefined;
  const applied = hasTable && db
    ? (db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as SchemaStatus['applied'])
    : [];
  const current = applied.at(-1)?.version ?? 0;
  return {
    current,
    known: migrations.at(-1)?.version ?? 0,
    pending: migrations.filter((m) => m.version > current),
    applied,
  };
}
