/**
 * Issue 7's ledger changes: group commit can be capped (the bench's naive baseline), the uploader's "next due"
 * question is one index seek, and writes that a restart redoes (claims, metadata) skip their own WAL fsync
 * but leave the connection at synchronous=FULL for everything else.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/ledger/group-commit.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { loadMigrations, migrate } from '../../src/ledger/migrate.js';
import { openLedger, withoutFsync, type Db } from '../../src/ledger/open.js';
import { newImage, tempLedger, type TempLedger } from '../helpers/ledger.js';


const EMPTY_META = { width: null, height: null, camera_make: null, camera_model: 'X1', gps_lat: null, gps_lon: null, captured_at: null, captured_at_utc: null, orientation: null };

describe('ledger hot paths', () => {
  let temp: TempLedger;
  let dir: string;
  let db: Db;
  let ledger: ImageLedger;

  beforeEach(() => {
    temp = tempLedger('ledger-hot-');
    ({ dir, db } = temp);
    ledger = new ImageLedger(db);
  });
  afterEach(() => temp.remove());

  it('group commit batches concurrent inserts; maxBatch caps the rows per transaction', async () => {
    const commits = async (maxBatch: number | undefined, prefix: string): Promise<number> => {
      const rows: number[] = [];
      const committer = new GroupCommitter((r) => ledger.insertMany(r), { onCommit: (_s, n) => rows.push(n), maxBatch });
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => committer.insert(newImage(`${prefix}${i}`))));
      expect(results.every((r) => r.kind === 'inserted')).toBe(true);
      expect(rows.reduce((a, b) => a + b, 0)).toBe(20);
      return committer.commits;
    };
    expect(await commits(undefined, 'A')).toBe(1);
    expect(await commits(5, 'B')).toBe(4);
    expect(await commits(1, 'C')).toBe(20);
    expect(ledger.summary().queued).toBe(60);
    expect(() => new GroupCommitter((r) => ledger.insertMany(r), { maxBatch: 0 })).toThrow(/maxBatch to be at least 1, got 0/);
  });

  it('finds an earlier receipt of the same bytes in receipt order from the index alone, no sort (migration 0015)', () => {
    for (const name of ['bySha', 'liveOriginal']) {
      const sql = ledger.statements[name] as string;
      const params = (sql.match(/\?/g) ?? []).map(() => 'x');
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((p) => p.detail);
      expect(plan, name).toEqual([expect.stringMatching(/^SEARCH images USING INDEX images_(device_)?sha256 /)]);
    }
    // The earliest receipt comes first even when the rows were written out of order.
    const sha = 'ab'.repeat(32);
    ledger.insertMany([{ ...newImage('R2'), sha256: sha }]);
    // An earlier id inserted after it (as rows of one group commit can land): a copy of R2's row as R1.
    db.exec(`CREATE TEMP TABLE r AS SELECT * FROM images WHERE id = 'R2';
      UPDATE r SET id = 'R1', s3_key = s3_key || '.r1', path = path || '.r1';
      INSERT INTO images SELECT * FROM r; DROP TABLE r;`);
    expect(ledger.liveOriginal(sha)?.id).toBe('R1');
  });

  it('answers "when is the next image due" from the partial index of queued rows', () => {
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${ledger.statements['nextDue']}`).all() as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail)).toEqual(['SEARCH images USING COVERING INDEX images_queued_due']);
    expect(ledger.nextDueAt()).toBeNull();
    const t0 = new Date('2026-11-23T10:00:00.000Z');
    ledger.insertMany([newImage('N1', t0), newImage('N2', new Date(t0.getTime() + 1000)), newImage('N3', new Date(t0.getTime() + 2000))]);
    expect(ledger.nextDueAt()?.toISOString()).toBe('2026-11-23T10:00:00.000Z');
    // N1 claimed and put in backoff, N2 claimed (uploading rows are not queued): N3 is next, then N1's retry.
    expect(ledger.claimNext(new Date(t0.getTime() + 5000))?.id).toBe('N1');
    ledger.scheduleRetry('N1', new Date('2026-11-23T11:00:00.000Z'), 'boom');
    expect(ledger.claimNext(new Date(t0.getTime() + 5000))?.id).toBe('N2');
    expect(ledger.nextDueAt()?.toISOString()).toBe('2026-11-23T10:00:02.000Z');
    expect(ledger.claimNext(new Date(t0.getTime() + 5000))?.id).toBe('N3');
    expect(ledger.nextDueAt()?.toISOString()).toBe('2026-11-23T11:00:00.000Z');
  });

  it('reads a ledger an older running service has not migrated to 0014 yet (image-spool status)', () => {
    const older = openLedger(path.join(dir, 'v13.db'));
    try {
      migrate(older, loadMigrations().filter((m) => m.version <= 13));
      const view = new ImageLedger(older);
      expect(view.summary()).toMatchObject({ queued: 0, uploaded: 0 });
      expect(() => view.nextDueAt()).toThrow(/no such index: images_queued_due/);
    } finally {
      older.close();
    }
  });

  it('claims and metadata skip their own fsync but leave synchronous=FULL for acknowledged writes', () => {
    ledger.insertMany([newImage('M1')]);
    ledger.setMetadata('M1', EMPTY_META, new Date());
    expect(ledger.get('M1')).toMatchObject({ camera_model: 'X1' });
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(ledger.claimNext(new Date())?.id).toBe('M1');
    expect(ledger.claimNext(new Date())).toBeUndefined();
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    // Also when the write fails.
    expect(() => withoutFsync(db, () => db.exec('INSERT INTO nope VALUES (1)'))).toThrow(/no such table/);
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('a ledger opened for BENCH_UNSAFE_NO_FSYNC stays at synchronous=OFF', () => {
    const unsafe = openLedger(path.join(dir, 'unsafe.db'), { unsafeNoSync: true });
    try {
      expect(unsafe.pragma('synchronous', { simple: true })).toBe(0);
      withoutFsync(unsafe, () => undefined);
      expect(unsafe.pragma('synchronous', { simple: true })).toBe(0);
    } finally {
      unsafe.close();
    }
  });
});
