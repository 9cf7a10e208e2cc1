import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { SpoolError } from '../errors.js';
import { loadMigrations, migrate } from '../ledger/migrate.js';
import { openLedger } from '../ledger/open.js';
import { schemaStatus } from '../ledger/schema-status.js';
import { mkdirDurable } from '../spool/dir-sync.js';
import { expectPositionals, parseArgs } from './args.js';
import type { Command } from './command.js';
import { ledgerFile } from './ledger-status.js';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'apply pending ledger migrations (the service also does at start)   [--status]',
  usage: `usage: image-spool migrate [--status] [--json]

Applies the migrations this build ships (migrations/NNNN_*.sql) that $SPOOL_DIR/ledger.db lacks, each in
its own transaction, and prints the versions applied and the schema version now. Creates SPOOL_DIR and
the ledger when they do not exist. Refuses a ledger written by a newer release.

The service applies the same migrations when it starts, so this is only needed to prepare or inspect a
ledger ahead of time (e.g. before an upgrade's restart). Safe while an older service runs: each
migration is one transaction that readers never see half-done. Run it as the service's user, so the
files it creates stay writable by the service.

  --status   show the schema version, what this build knows and what is pending; change nothing
  --json     print {"current", "known", "applied" or "pending"} as one JSON object`,
  async run(args) {
    const parsed = parseArgs(args, { status: { type: 'boolean' }, json: { type: 'boolean' } });
    expectPositionals(parsed, 0, 0, '');
    const json = parsed.options['json'] === true;
    const config = loadConfig();
    const file = ledgerFile(config);
    const migrations = loadMigrations();

    if (parsed.options['status'] === true) {
      const db = existsSync(file) ? openLedger(file, { readonly: true }) : null;
      try {
        const s = schemaStatus(db, migrations);
        const pending = s.pending.map((m) => m.name);
        if (json) process.stdout.write(`${JSON.stringify({ ledger: file, exists: db !== null, current: s.current, known: s.known, pending })}\n`);
        else {
          process.stdout.write(`${file}${db === null ? ' (does not exist yet)' : ''}: schema version ${s.current}, this build knows ${s.known}\n`);
          if (s.current > s.known) process.stdout.write('the ledger is newer than this build: upgrade image-spool\n');
          else process.stdout.write(pending.length === 0 ? 'up to date\n' : `pending: ${pending.join(', ')}\n`);
        }
        return s.current > s.known ? 1 : 0;
      } finally {
        db?.close();
      }
    }

    await mkdirDurable(config.spoolDir, 0o700);
    const db = openLedger(file);
    try {
      const { applied, version } = migrate(db, migrations);
      if (json) process.stdout.write(`${JSON.stringify({ ledger: file, applied, current: version, known: migrations.at(-1)?.version ?? 0 })}\n`);
      else {
        const names = migrations.filter((m) => applied.includes(m.version)).map((m) => m.name);
        process.stdout.write(applied.length === 0 ? `${file}: up to date\n` : `${file}: applied ${names.join(', ')}\n`);
        process.stdout.write(`schema version ${version}\n`);
      }
      return 0;
    } catch (err) {
      if (err instanceof SpoolError) throw err;
      throw new SpoolError('ledger_unavailable', `migrating ${file} failed (nothing of the failed migration was applied): ${(err as Error).message}`, { cause: err });
    } finally {
      db.close();
    }
  },
};
