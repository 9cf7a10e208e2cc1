import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../src/ledger/checkpointer.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import { waitFor } from '../helpers/in-process.js';

describe('Checkpointer (WAL checkpoints on their own thread)', () => {
  let dir: string;
  let file: string;
  let db: Db;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'checkpointer-'));
    file = path.join(dir, 'ledger.db');
    db = openLedger(file);
    db.exec('CREATE TABLE t (x TEXT)');
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies the WAL into the database while the service connection never checkpoints itself', async () => {
    const checkpointer = new Checkpointer(db, file, pino({ level: 'silent' }), 20);
    checkpointer.start();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = statSync(file).size;
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    db.transaction(() => { for (let i = 0; i < 20_000; i++) insert.run('x'.repeat(200)); })(); // ~1000 pages
    // Only the other thread can have moved these pages into the database file.
    await waitFor(() => (statSync(file).size > before + 2_000_000 ? true : undefined), 10_000, 'a background checkpoint');
    await checkpointer.stop();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('gives checkpoints back to the service connection, loudly, when its thread fails', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, { write: (l: string) => { lines.push(l); } });
    const checkpointer = new Checkpointer(db, path.join(dir, 'missing', 'ledger.db'), log, 20);
    checkpointer.start();
    await waitFor(() => (db.pragma('wal_autocheckpoint', { simple: true }) === 1000 ? true : undefined), 10_000, 'the fallback');
    expect(lines.join('')).toMatch(/background WAL checkpoint thread stopped/);
    await checkpointer.stop();
  });
});
