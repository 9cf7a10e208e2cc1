/**
 * The CLI's contract with scripts and people, no service needed: `migrate` on a fresh SPOOL_DIR,
 * `status` on a stopped service's ledger, `--help` for every command, usage errors (exit 2, usage on
 * stderr) and configuration errors (exit 2, naming the variable).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src/admin/status.js';
import { loadMigrations } from '../../src/ledger/migrate.js';
import { runCli } from '../helpers/cli.js';
import { CLI } from '../helpers/service-process.js';

const COMMANDS = ['serve', 'status', 'bwlimit', 'requeue', 'tokens', 'links', 'read-link', 'verify', 'migrate'];

describe('image-spool migrate, and status on a stopped service', () => {
  let root: string;
  let env: Record<string, string>;
  const known = loadMigrations().map((m) => m.version);

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'cli-usage-'));
    // Nothing listens on port 9: the service is "down".
    env = { SPOOL_DIR: path.join(root, 'spool'), PORT: '9' };
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('migrate --status on a fresh SPOOL_DIR shows everything pending and creates nothing', async () => {
    const r = await runCli(['migrate', '--status', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ exists: false, current: 0, known: known.at(-1), pending: loadMigrations().map((m) => m.name) });
    expect(existsSync(env['SPOOL_DIR'] as string)).toBe(false);
    const human = await runCli(['migrate', '--status'], env);
    expect(human.stdout).toMatch(/ledger\.db \(does not exist yet\): schema version 0, this build knows \d+\npending: 0001_init\.sql, /);
  });

  it('migrate creates the schema, and a second run is a no-op', async () => {
    const first = await runCli(['migrate', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ applied: known, current: known.at(-1), known: known.at(-1) });
    const db = new Database(path.join(env['SPOOL_DIR'] as string, 'ledger.db'), { readonly: true });
    try {
      const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{ name: string }>).map((t) => t.name);
      expect(tables).toEqual(expect.arrayContaining(['images', 'settings', 'schema_migrations', 'upload_links', 'device_tokens', 'stat_counts']));
      expect((db.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n).toBe(known.length);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
    const again = await runCli(['migrate'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/ledger\.db: up to date\nschema version \d+\n$/);
    expect(JSON.parse((await runCli(['migrate', '--json'], env)).stdout)).toMatchObject({ applied: [] });
    expect(JSON.parse((await runCli(['migrate', '--status', '--json'], env)).stdout)).toMatchObject({ exists: true, current: known.at(-1), pending: [] });
  });

  it('status reads the stopped service\'s ledger: zeros, and the cap\'s source (the schedule, set or not)', async () => {
    const r = await runCli(['status', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as StatusSnapshot;
    expect(s).toMatchObject({
      service: 'down', egress_bytes_per_sec: null, drain_eta_seconds: 0,
      backlog: { images: 0, bytes: 0, oldest_queued_at: null, oldest_queued_age_seconds: null },
      cap: { rate_bytes_per_sec: 12_500_000, source: 'schedule', schedule: '100Mbit', override: null },
      disk: { spool_bytes: 0, spool_max_bytes: null },
    });
    expect(s.disk.total_bytes).toBeGreaterThan(s.disk.free_bytes);
    // The same word as `bwlimit`, the log and the status page: the default UPLOAD_BWLIMIT is the schedule.
    const human = await runCli(['status'], env);
    expect(human.stdout).toMatch(/^cap +100Mbit\/s from schedule "100Mbit" \(UPLOAD_BWLIMIT\) \(when the service runs\)$/m);
    const scheduled = JSON.parse((await runCli(['status', '--json'], { ...env, UPLOAD_BWLIMIT: '5MB', SPOOL_MAX_BYTES: '1GB' })).stdout) as StatusSnapshot;
    expect(scheduled.cap).toMatchObject({ rate_bytes_per_sec: 5_000_000, source: 'schedule', schedule: '5MB' });
    expect(scheduled.disk.spool_max_bytes).toBe(1e9);
  });

  it('--watch on a terminal redraws in place: ANSI home + clear before each block', async (t) => {
    // A pseudo-terminal from util-linux `script`; without it the branch cannot be reached from a test.
    if (spawnSync('script', ['--version']).status !== 0) {
      console.log('skipped: util-linux `script` is not installed (needed for a pseudo-terminal)');
      t.skip();
    }
    const command = `timeout -s INT 1.5 ${process.execPath} ${CLI} status --watch 0.2`;
    const out = await new Promise<string>((resolve) => {
      execFile('script', ['-qfc', command, '/dev/null'], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' }, (_err, stdout) => resolve(stdout));
    });
    const blocks = out.split('\x1b[H\x1b[2J').slice(1);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) expect(block).toMatch(/^image-spool status at \S+: service DOWN[^]*\nrefreshing every 0\.2s; Ctrl-C to stop\r?\n$/);
  });

  it('refuses a ledger from a newer release (exit 1), in both modes', async () => {
    const file = path.join(env['SPOOL_DIR'] as string, 'ledger.db');
    const db = new Database(file);
    db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', '2030-01-01T00:00:00Z')`).run();
    db.close();
    const status = await runCli(['migrate', '--status'], env);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/schema version 9999, .*\nthe ledger is newer than this build: upgrade image-spool/);
    const run = await runCli(['migrate'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^image-spool: schema_too_new: /);
  });

  it('status with neither a service nor a ledger says where it looked (exit 1)', async () => {
    const r = await runCli(['status'], { ...env, SPOOL_DIR: path.join(root, 'empty') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^image-spool: service_unreachable: nothing answers at http:\/\/127\.0\.0\.1:9 .* no ledger at .*empty.*ledger\.db \(SPOOL_DIR\)/);
  });
});

describe('image-spool usage', () => {
  const env = { SPOOL_DIR: '/nonexistent/spool', PORT: '9' };

  it('--help for every command prints its usage on stdout, exit 0', async () => {
    const top = await runCli(['--help'], env);
    expect(top.code).toBe(0);
    for (const name of COMMANDS) expect(top.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    for (const name of COMMANDS) {
      for (const args of [[name, '--help'], ['help', name]]) {
        const r = await runCli(args, env);
        expect(r.code, args.join(' ')).toBe(0);
        expect(r.stdout, args.join(' ')).toMatch(new RegExp(`^usage: image-spool ${name}\\b`));
        expect(r.stderr).toBe('');
      }
    }
    expect((await runCli(['tokens', 'add', '-h'], env)).stdout).toMatch(/^usage: image-spool tokens add DEVICE_ID/);
  });

  it('an unknown command or option prints usage on stderr with exit 2', async () => {
    const unknown = await runCli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^image-spool: unknown command "frobnicate"\nusage: image-spool <command>/);
    expect(unknown.stdout).toBe('');
    for (const args of [['status', '--bogus'], ['status', 'extra'], ['migrate', '--force'], ['tokens', 'list', '--all'], ['tokens', 'add'],
      ['tokens', 'add', '--device', 'x'], ['bwlimit', '--reset'], ['bwlimit', '1MB', '--clear'], ['requeue'], ['requeue', '--all'], ['serve', '--port', '1']]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(new RegExp(`^image-spool ${args[0] as string}: .+\\nusage: image-spool ${args[0] as string}\\b`));
      expect(r.stdout, args.join(' ')).toBe('');
    }
  });

  it('a configuration error names the variable, exit 2', async () => {
    const port = await runCli(['status'], { ...env, PORT: 'abc' });
    expect(port.code).toBe(2);
    expect(port.stderr).toMatch(/^image-spool: config_invalid: invalid PORT="abc"/);
    const bw = await runCli(['migrate', '--status'], { ...env, UPLOAD_BWLIMIT: 'fast' });
    expect(bw.code).toBe(2);
    expect(bw.stderr).toMatch(/UPLOAD_BWLIMIT="fast"/);
  });
});
