import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/ledger/group-commit.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { currentVersion, loadMigrations, migrate } from '../../src/ledger/migrate.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import type { NewImage } from '../../src/ledger/types.js';

function newImage(id: string, receivedAt = new Date()): NewImage {
  return { id, device_id: 'cam-1', sha256: createHash('sha256').update(id).digest('hex'), bytes: 10, content_type: 'image/jpeg', path: `images/${id}.jpg`, s3_key: `cam-1/${id}.jpg`, received_at: receivedAt.toISOString() };
}

describe('ledger', () => {
  let dir: string;
  let db: Db;
  let ledger: ImageLedger;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ledger-'));
    db = openLedger(path.join(dir, 'ledger.db'));
    migrate(db);
    ledger = new ImageLedger(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens in WAL with synchronous=FULL', () => {
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('records migrations and applies each once', () => {
    const known = loadMigrations().at(-1)?.version;
    expect(currentVersion(db)).toBe(known);
    expect(migrate(db).applied).toEqual([]);
  });

  it('refuses a ledger written by a newer schema', () => {
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('9999_future.sql', new Date().toISOString());
    expect(() => migrate(db)).toThrow(/schema version 999 is newer/);
  });

  it('rolls back a failing migration whole', () => {
    const bad = [...loadMigrations(), { version: 900, name: '0900_bad.sql', sql: 'CREATE TABLE t (x); INSERT INTO nope VALUES (1);' }];
    expect(() => migrate(db, bad)).toThrow();
    expect(currentVersion(db)).toBeLessThan(900);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get()).toEqual({ n: 0 });
  });

  it('claims oldest first, only due rows, and walks the state machine', () => {
    const t0 = Date.now() - 10_000;
    ledger.insertMany([newImage('B', new Date(t0 + 2)), newImage('A', new Date(t0 + 1)), newImage('C', new Date(t0 + 3))]);
    const first = ledger.claimNext(new Date());
    expect(first).toMatchObject({ id: 'A', state: 'uploading', attempts: 1 });
    ledger.scheduleRetry('A', new Date(Date.now() + 60_000), 'boom');
    expect(ledger.claimNext(new Date())?.id).toBe('B');
    ledger.markUploaded('B', new Date());
    expect(ledger.get('B')).toMatchObject({ state: 'uploaded', last_error: null });
    expect(ledger.claimNext(new Date())?.id).toBe('C');
    expect(ledger.claimNext(new Date())).toBeUndefined(); // A is not due yet
    expect(ledger.get('A')).toMatchObject({ state: 'queued', last_error: 'boom', attempts: 1 });
    // Refused transitions change nothing.
    expect(() => ledger.markUploaded('A', new Date())).toThrow(/expected state uploading/);
    expect(() => ledger.markDead('B', 'uploaded', 'x')).toThrow(/not allowed/);
    expect(ledger.get('B')?.state).toBe('uploaded');
  });

  it('release gives a claim back without spending an attempt', () => {
    ledger.insertMany([newImage('R')]);
    ledger.claimNext(new Date());
    ledger.release('R', new Date());
    expect(ledger.get('R')).toMatchObject({ state: 'queued', attempts: 0 });
  });

  it('exposes a backlog view for operators', () => {
    ledger.insertMany([newImage('Y', new Date(Date.now() - 5)), newImage('X', new Date(Date.now() - 9)), newImage('Z')]);
    ledger.claimNext(new Date());
    const claimed = 'X';
    ledger.markUploaded(claimed, new Date());
    const rows = db.prepare('SELECT id, state FROM backlog').all();
    expect(rows).toEqual([{ id: 'Y', state: 'queued' }, { id: 'Z', state: 'queued' }]);
  });

  it('group commit writes concurrent inserts in one transaction and isolates a bad row', async () => {
    const committer = new GroupCommitter((rows) => ledger.insertMany(rows));
    await Promise.all(Array.from({ length: 50 }, (_, i) => committer.insert(newImage(`G${i}`))));
    expect(committer.commits).toBe(1);
    expect(ledger.summary().queued).toBe(50);
    const clash = { ...newImage('G1'), sha256: 'cd'.repeat(32) }; // same primary key, other bytes: a real error
    const results = await Promise.allSettled([committer.insert(newImage('H1')), committer.insert(clash), committer.insert(newImage('H2'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(ledger.get('H1')).toBeDefined();
    expect(ledger.get('H2')).toBeDefined();
  });

  it('answers a resend with the earlier receipt: same device and bytes, or same Idempotency-Key; refuses a key reused for other bytes', async () => {
    const committer = new GroupCommitter((rows) => ledger.insertMany(rows));
    const first = newImage('D1');
    // Two resends of the same bytes in one batch (a race): one row, the other gets the first as its original.
    const [a, b] = await Promise.all([committer.insert(first), committer.insert({ ...newImage('D2'), sha256: first.sha256 })]);
    expect(a).toEqual({ kind: 'inserted' });
    expect(b).toMatchObject({ kind: 'duplicate', original: { id: 'D1' } });
    // Another device sending the same bytes is not a resend.
    expect(await committer.insert({ ...newImage('D3'), device_id: 'cam-2', sha256: first.sha256 })).toEqual({ kind: 'inserted' });
    // Idempotency-Key: same key + same bytes = duplicate; same key + other bytes = conflict.
    expect(await committer.insert({ ...newImage('K1'), idempotency_key: 'key-1' })).toEqual({ kind: 'inserted' });
    expect(await committer.insert({ ...newImage('K2'), sha256: newImage('K1').sha256, idempotency_key: 'key-1' })).toMatchObject({ kind: 'duplicate', original: { id: 'K1' } });
    expect(await committer.insert({ ...newImage('K3'), idempotency_key: 'key-1' })).toMatchObject({ kind: 'key_conflict', original: { id: 'K1' } });
    expect(db.prepare('SELECT id FROM images ORDER BY id').all().map((r) => (r as { id: string }).id)).toEqual(['D1', 'D3', 'K1']);
  });

  it('evicts the oldest queued images first, never one being uploaded, and counts them', () => {
    const t0 = Date.now() - 10_000;
    ledger.insertMany(['E1', 'E2', 'E3', 'E4'].map((id, i) => newImage(id, new Date(t0 + i))));
    expect(ledger.claimNext(new Date())?.id).toBe('E1'); // E1 is uploading now
    const evicted = ledger.evictOldest(15, 'spool full');
    expect(evicted.map((r) => r.id)).toEqual(['E2', 'E3']); // 10 bytes each: two to free 15
    expect(ledger.get('E1')?.state).toBe('uploading');
    expect(ledger.get('E2')).toMatchObject({ state: 'evicted', last_error: 'spool full' });
    expect(ledger.summary()).toMatchObject({ uploading: 1, queued: 1, evicted: 2 });
    expect(ledger.localBytes(false)).toBe(20);
  });
});
