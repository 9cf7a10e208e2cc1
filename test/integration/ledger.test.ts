import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/ledger/group-commit.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { currentVersion, loadMigrations, migrate } from '../../src/ledger/migrate.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import type { NewImage } from '../../src/ledger/types.js';
import { newImage, tempLedger, type TempLedger } from '../helpers/ledger.js';


describe('ledger', () => {
  let temp: TempLedger;
  let dir: string;
  let db: Db;
  let ledger: ImageLedger;

  beforeEach(() => {
    temp = tempLedger('ledger-');
    ({ dir, db } = temp);
    ledger = new ImageLedger(db);
  });
  afterEach(() => temp.remove());

  it('opens in WAL with synchronous=FULL', () => {
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('records migrations and applies each once', () => {
    const known = loadMigrations().at(-1)?.version;
    expect(currentVersion(db)).toBe(known);
    expect(migrate(db).applied).toEqual([]);
  });

  it('applies a known migration the ledger lacks even when a later one is recorded (branches merged out of order)', () => {
    const all = loadMigrations();
    const gap = { version: 899, name: '0899_gap.sql', sql: 'CREATE TABLE gap_marker (x INTEGER) STRICT;' };
    const later = { version: 900, name: '0900_later.sql', sql: 'CREATE TABLE later_marker (x INTEGER) STRICT;' };
    expect(migrate(db, [...all, later]).applied).toEqual([900]);
    expect(migrate(db, [...all, gap, later]).applied).toEqual([899]);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'gap_marker'").get()).toEqual({ n: 1 });
    expect(migrate(db, [...all, gap, later]).applied).toEqual([]);
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

  it('upgrades a populated v11 ledger to the dedup schema: rows, references, counters and indexes kept', () => {
    const older = openLedger(path.join(dir, 'v11.db'));
    migrate(older, loadMigrations().filter((m) => m.version <= 11));
    const insertV11 = older.prepare(`INSERT INTO images (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at, received_at)
      VALUES (@id, @device_id, @sha256, @bytes, @content_type, @path, @s3_key, 'queued', 0, @received_at, @received_at)`);
    for (const row of [newImage('U1'), newImage('U2'), { ...newImage('U3'), device_id: 'cam-2', sha256: newImage('U1').sha256, s3_key: 'cam-2/U3.jpg' }]) insertV11.run(row);
    older.prepare(`INSERT INTO multipart_uploads VALUES ('U2', 'upload-1', 8388608, 't')`).run();
    older.prepare(`INSERT INTO multipart_parts VALUES ('U2', 1, 'etag', 'c2hh', 8388608)`).run();
    const before = older.prepare('SELECT kind, key, n, bytes FROM stat_counts ORDER BY kind, key').all();
    expect(migrate(older).applied).toEqual(loadMigrations().filter((m) => m.version > 11).map((m) => m.version));
    // Rows brought before dedup stay as they were (two originals of the same bytes); foreign keys are back on and hold.
    expect(older.prepare('SELECT id, state, duplicate_of FROM images ORDER BY id').all()).toEqual(
      ['U1', 'U2', 'U3'].map((id) => ({ id, state: 'queued', duplicate_of: null })));
    expect(older.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(older.pragma('foreign_key_check')).toEqual([]);
    expect(older.prepare('SELECT part_number FROM multipart_parts WHERE image_id = ?').all('U2')).toEqual([{ part_number: 1 }]);
    // Counters kept; 0017 adds images received per day, backfilled from the rows.
    expect(older.prepare(`SELECT kind, key, n, bytes FROM stat_counts WHERE kind != 'received_day' ORDER BY kind, key`).all()).toEqual(before);
    const receivedDays = older.prepare(`SELECT sum(n) AS n FROM stat_counts WHERE kind = 'received_day'`).get() as { n: number };
    expect(receivedDays.n).toBe(3);
    // The triggers came back with the table: a new duplicate is counted.
    const upgraded = new ImageLedger(older);
    expect(upgraded.insertMany([{ ...newImage('U4'), device_id: 'cam-3', sha256: newImage('U2').sha256 }])).toMatchObject([{ kind: 'duplicate_of', original: { id: 'U2' } }]);
    expect(upgraded.stats(new Date())).toMatchObject({ receipts: 4, unique_images: 2, duplicates: 2 });
    const plan = older.prepare(`EXPLAIN QUERY PLAN SELECT * FROM images WHERE sha256 = ? AND state IN ('queued', 'uploading', 'uploaded', 'dead') ORDER BY id LIMIT 1`).all('x');
    expect(JSON.stringify(plan)).toMatch(/images_sha256/);
    older.close();
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
    expect(b).toMatchObject({ kind: 'resend', earlier: { row: { id: 'D1' }, blob: { id: 'D1' } } });
    // Idempotency-Key: same key + same bytes = resend; same key + other bytes = conflict.
    expect(await committer.insert({ ...newImage('K1'), idempotency_key: 'key-1' })).toEqual({ kind: 'inserted' });
    expect(await committer.insert({ ...newImage('K2'), sha256: newImage('K1').sha256, idempotency_key: 'key-1' })).toMatchObject({ kind: 'resend', earlier: { row: { id: 'K1' } } });
    expect(await committer.insert({ ...newImage('K3'), idempotency_key: 'key-1' })).toMatchObject({ kind: 'key_conflict', earlier: { row: { id: 'K1' } } });
    expect(db.prepare('SELECT id FROM images ORDER BY id').all().map((r) => (r as { id: string }).id)).toEqual(['D1', 'K1']);
  });

  it('stores bytes another device sent once: a duplicate row with its own id points at the original', async () => {
    const committer = new GroupCommitter((rows) => ledger.insertMany(rows));
    const first = newImage('X1');
    expect(await committer.insert(first)).toEqual({ kind: 'inserted' });
    const fromB = { ...newImage('X2'), device_id: 'cam-2', sha256: first.sha256, s3_key: 'cam-2/X2.jpg' };
    expect(await committer.insert(fromB)).toMatchObject({ kind: 'duplicate_of', original: { id: 'X1', state: 'queued' } });
    expect(ledger.get('X2')).toMatchObject({ device_id: 'cam-2', state: 'duplicate', duplicate_of: 'X1', path: null, s3_key: null, bytes: 10 });
    // Two devices at once in one batch: one stored, the rest duplicates of it.
    const y = newImage('Y1');
    const race = await Promise.all(['cam-3', 'cam-4', 'cam-5'].map((d, i) => committer.insert({ ...y, id: `Y${i + 1}`, device_id: d, s3_key: `${d}/Y.jpg` })));
    expect(race.map((r) => r.kind)).toEqual(['inserted', 'duplicate_of', 'duplicate_of']);
    // cam-2 resending its bytes: its own first receipt (the duplicate), resolved to the original's row.
    expect(await committer.insert({ ...fromB, id: 'X3', s3_key: 'cam-2/X3.jpg' })).toMatchObject({ kind: 'resend', earlier: { row: { id: 'X2' }, blob: { id: 'X1' } } });
    expect(ledger.resolve('X2')).toMatchObject({ row: { id: 'X2' }, blob: { id: 'X1' } });
    expect(ledger.duplicatesOf('X1').map((r) => r.id)).toEqual(['X2']);
    // The uploader never sees a duplicate; the spool counts one file; stats count receipts and unique bytes.
    const claimed: string[] = [];
    for (let row = ledger.claimNext(new Date()); row; row = ledger.claimNext(new Date())) claimed.push(row.id);
    expect(claimed.sort()).toEqual(['X1', 'Y1']);
    expect(ledger.localBytes(false)).toBe(20);
    expect(ledger.stats(new Date())).toMatchObject({ receipts: 5, unique_images: 2, duplicates: 3, backlog: { images: 2, bytes: 20 } });
    expect(ledger.summary()).toMatchObject({ uploading: 2, duplicate: 3 });
  });

  it('a duplicate planned without a file gets needs_file when no live original holds the bytes (evicted meanwhile)', () => {
    const t0 = Date.now() - 1000;
    ledger.insertMany([newImage('V1', new Date(t0))]);
    ledger.evictOldest(1, 'spool full');
    const planned = { ...newImage('V2'), device_id: 'cam-2', sha256: newImage('V1').sha256, path: null };
    expect(ledger.insertMany([planned])).toEqual([{ kind: 'needs_file' }]);
    expect(ledger.get('V2')).toBeUndefined();
    // With its file it is a new original: evicted bytes are not held any more. The evicted receipt shares it now.
    expect(ledger.insertMany([{ ...planned, path: 'images/V2.jpg' }])).toEqual([{ kind: 'inserted', absorbed: ['images/V1.jpg'] }]);
    expect(ledger.get('V2')).toMatchObject({ state: 'queued', duplicate_of: null });
    expect(ledger.get('V1')).toMatchObject({ state: 'duplicate', duplicate_of: 'V2', path: null, s3_key: null });
  });

  it('a row whose bytes are lost never absorbs new bytes; in every other state it is what dedup points at', () => {
    const t0 = Date.now() - 10_000;
    const kinds = ['UPLOADING', 'UPLOADED', 'REFUSED', 'MISSING', 'CORRUPT', 'EVICTED', 'QUEUED']; // oldest first
    ledger.insertMany(kinds.map((id, i) => newImage(id, new Date(t0 + i))));
    const claim = (id: string): void => expect(ledger.claimNext(new Date())?.id).toBe(id);
    claim('UPLOADING');
    claim('UPLOADED');
    ledger.markUploaded('UPLOADED', new Date());
    claim('REFUSED');
    ledger.markDead('REFUSED', 'uploading', 'InvalidDigest (HTTP 400): refused'); // S3 said no; its file is still in the spool
    claim('MISSING');
    ledger.markDead('MISSING', 'uploading', 'spool_file_missing: spooled file images/MISSING.jpg is missing');
    claim('CORRUPT');
    ledger.markDead('CORRUPT', 'uploading', 'spool_file_corrupt: spooled file images/CORRUPT.jpg has 10 bytes sha256 00');
    expect(ledger.evictOldest(1, 'evicted: spool full').map((r) => r.id)).toEqual(['EVICTED']);

    const copyOf = (id: string, as: string, device = 'cam-9'): NewImage => ({ ...newImage(as), device_id: device, sha256: newImage(id).sha256 });
    // Bytes on disk or in S3: a new receipt from another device is a duplicate.
    for (const id of ['QUEUED', 'UPLOADING', 'UPLOADED', 'REFUSED']) {
      expect(ledger.insertMany([copyOf(id, `D-${id}`)]), id).toMatchObject([{ kind: 'duplicate_of', original: { id } }]);
    }
    // Lost: the device's resend put its file at the row's path; the row is queued again, attempts reset.
    expect(ledger.insertMany([{ ...copyOf('MISSING', 'R1', 'cam-1'), path: 'images/MISSING.jpg', restores: 'MISSING' }]))
      .toMatchObject([{ kind: 'restored', earlier: { row: { id: 'MISSING' }, blob: { id: 'MISSING', state: 'queued', attempts: 0 } } }]);
    expect(ledger.get('MISSING')?.last_error).toMatch(/^stored again by a resend after: spool_file_missing/);
    // Restored already (a concurrent resend won): a plain resend; a resend whose file is elsewhere never restores.
    expect(ledger.insertMany([{ ...copyOf('MISSING', 'R2', 'cam-1'), path: 'images/MISSING.jpg', restores: 'MISSING' }])).toMatchObject([{ kind: 'resend' }]);
    expect(ledger.insertMany([{ ...copyOf('CORRUPT', 'R3', 'cam-1'), path: 'images/R3.jpg', restores: 'CORRUPT' }])).toMatchObject([{ kind: 'resend' }]);
    expect(ledger.get('CORRUPT')?.state).toBe('dead');
    // A receipt that already pointed at it goes along with a lost row.
    ledger.markDead('QUEUED', 'queued', 'spool_file_missing: file images/QUEUED.jpg is missing'); // recovery's words
    // Another device's copy of lost bytes is stored as its own, and the lost row and its receipts share it.
    expect(ledger.insertMany([copyOf('CORRUPT', 'N1')])).toEqual([{ kind: 'inserted', absorbed: ['images/CORRUPT.jpg'] }]);
    expect(ledger.get('CORRUPT')).toMatchObject({ state: 'duplicate', duplicate_of: 'N1', path: null, s3_key: null });
    expect(ledger.insertMany([copyOf('EVICTED', 'N2')])).toEqual([{ kind: 'inserted', absorbed: ['images/EVICTED.jpg'] }]);
    expect(ledger.insertMany([copyOf('QUEUED', 'N3', 'cam-8')])).toEqual([{ kind: 'inserted', absorbed: ['images/QUEUED.jpg'] }]);
    expect(ledger.get('D-QUEUED')).toMatchObject({ state: 'duplicate', duplicate_of: 'N3' });
    expect(ledger.resolve('QUEUED')?.blob).toMatchObject({ id: 'N3', state: 'queued' });
    expect(ledger.summary()).toMatchObject({ dead: 1, evicted: 0, duplicate: 7 }); // REFUSED stays dead: S3's verdict
  });

  it('duplicates share the original\'s metadata, whether it was extracted before or after they arrived', () => {
    const a = newImage('M1');
    ledger.insertMany([a, { ...newImage('M2'), device_id: 'cam-2', sha256: a.sha256 }]);
    const meta = { width: 640, height: 480, camera_make: 'Acme', camera_model: 'C1', gps_lat: null, gps_lon: null, captured_at: null, captured_at_utc: null, orientation: 1 };
    expect(ledger.metadataPending(10).map((r) => r.id)).toEqual(['M1']);
    ledger.setMetadata('M1', meta, new Date());
    ledger.insertMany([{ ...newImage('M3'), device_id: 'cam-3', sha256: a.sha256 }]);
    for (const id of ['M2', 'M3']) expect(ledger.get(id)).toMatchObject({ camera_model: 'C1', width: 640, duplicate_of: 'M1' });
    expect(ledger.stats(new Date()).top_camera_models).toEqual([{ model: 'C1', images: 3 }]);
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
