import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpoolError } from '../errors.js';
import type { Db } from './open.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** `migrations/` sits at the package root, beside both `src/` and the compiled `dist/src/`. */
export function defaultMigrationsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.resolve(here, '../../migrations'), path.resolve(here, '../../../migrations')]) {
    try {
      readdirSync(candidate);
      return candidate;
    } catch {
      // try the next layout
    }
  }
  throw new SpoolError('ledger_unavailable', `migrations folder not found near ${here}`);
}

export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  return readdirSync(dir)
    .filter((name) => /^\d{4}_[\w-]+\.sql$/.test(name))
    .sort()
    .map((name) => ({ version: Number(name.slice(0, 4)), name, sql: readFileSync(path.join(dir, name), 'utf8') }));
}

/**
 * Applies pending migrations, each in its own transaction with its version recorded, and refuses a
 * ledger written by a newer release (downgrading the binary must not silently corrupt the schema).
 */
export function migrate(db: Db, migrations: Migration[] = loadMigrations()): { applied: number[]; version: number } {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const current = currentVersion(db);
  const known = migrations.at(-1)?.version ?? 0;
  if (current > known) {
    throw new SpoolError('schema_too_new', `ledger schema version ${current} is newer than this build knows (${known}); upgrade image-spool`);
  }
  // By version set, not by "greater than the newest": a migration merged under a number below one a ledger
  // already has (two branches) is still applied, instead of silently skipped.
  const done = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version));
  const applied: number[] = [];
  for (const m of migrations.filter((x) => !done.has(x.version))) {
    applyOne(db, m);
    applied.push(m.version);
  }
  return { applied, version: Math.max(current, known) };
}

/**
 * A migration that rebuilds a table others reference starts with `-- migrate: foreign_keys=off`: SQLite's
 * documented procedure, since DROP TABLE on a referenced table fails with foreign keys on, and the pragma
 * cannot change inside a transaction. The references are checked before the transaction commits.
 */
function applyOne(db: Db, m: Migration): void {
  const foreignKeysOff = /^--\s*migrate:\s*foreign_keys=off\s*$/m.test(m.sql);
  const before = db.pragma('foreign_keys', { simple: true }) as number;
  if (foreignKeysOff) db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      db.exec(m.sql);
      if (foreignKeysOff) {
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0) {
          throw new SpoolError('ledger_unavailable', `migration ${m.name} would leave ${broken.length} broken references: ${JSON.stringify(broken.slice(0, 3))}`);
        }
      }
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
        .run(m.version, m.name, new Date().toISOString());
    })();
  } finally {
    if (foreignKeysOff) db.pragma(`foreign_keys = ${before ? 'ON' : 'OFF'}`);
  }
}

export function currentVersion(db: Db): number {
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}
