/**
 * GET /admin/stats reads counters that triggers keep in the same transaction as every change; here they
 * are checked against the same figures computed from the rows with plain SQL, after a mix of changes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageLedger, type LedgerStats } from '../../src/ledger/images.js';
import { loadMigrations, migrate } from '../../src/ledger/migrate.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

function ledgerIn(): { db: Db; ledger: ImageLedger } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stats-'));
  dirs.push(dir);
  const db = openLedger(path.join(dir, 'ledger.db'));
  migrate(db);
  return { db, ledger: new ImageLedger(db) };
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('stats counters', () => {
  it('agree with the rows after inserts, duplicates, metadata, uploads, evictions and deaths', () => {
    const { db, ledger } = ledgerIn();
    const now = new Date('2026-11-23T12:00:00Z');
    const rows = Array.from({ length: 40 }, (_, i) => ({
      id: `ID${String(i).padStart(3, "0")}`, device_id: `cam-${i % 7}`, sha256: sha(`img-${i % 30}`), bytes: 100 + i,
      // The same bytes have the same format: the type follows the bytes (i % 30), as sniffing makes it.
      content_type: (i % 30) % 4 === 0 ? 'image/png' : 'image/jpeg', path: `images/${i}.jpg`, s3_key: `k/${i}`,
      received_at: new Date(now.getTime() - 10 * 86_400_000 + i).toISOString(),
    }));
    ledger.insertMany(rows);
    const empty = { width: null, height: null, gps_lat: null, gps_lon: null, captured_at: null, captured_at_utc: null, orientation: null };
    for (let i = 0; i < 25; i++) ledger.setMetadata(rows[i]!.id, { ...empty, camera_make: 'Acme', camera_model: i % 5 === 0 ? null : `M${i % 4}` }, now);
    ledger.setMetadata(rows[1]!.id, { ...empty, camera_make: 'Acme', camera_model: 'M9' }, now); // re-extraction moves a count
    for (let i = 0; i < 20; i++) {
      const claimed = ledger.claimNext(now);
      if (!claimed) break;
      ledger.markUploaded(claimed.id, new Date(now.getTime() - (i % 3) * 86_400_000));
    }
    ledger.evictOldest(1, 'full');
    const c = ledger.claimNext(now);
    if (c) ledger.markDead(c.id, 'uploading', 'x');

    const s = ledger.stats(now);
    const q = <T>(sql: string): T => db.prepare(sql).get() as T;
    expect(s.receipts).toBe(q<{ n: number }>('SELECT count(*) AS n FROM images').n);
    expect(s.unique_images).toBe(q<{ n: number }>('SELECT count(DISTINCT sha256) AS n FROM images').n);
    expect(s.duplicates).toBe(10);
    expect(s.most_popular_format).toEqual(q('SELECT content_type, count(*) AS images FROM images GROUP BY 1 ORDER BY 2 DESC LIMIT 1'));
    expect(s.most_popular_format).toEqual({ content_type: 'image/jpeg', images: 29 });
    // Duplicates are rows of their own that share the original's bytes, format and (once extracted) metadata.
    expect(q<{ n: number }>(`SELECT count(*) AS n FROM images WHERE state = 'duplicate'`).n).toBe(10);
    const models = db.prepare(`SELECT camera_model AS model, count(*) AS images FROM images WHERE camera_model IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`).all();
    expect(s.top_camera_models).toEqual(models);
    expect(s.unknown_camera_model).toBe(q<{ n: number }>('SELECT count(*) AS n FROM images WHERE camera_model IS NULL').n);
    expect(s.uploaded).toEqual(q<{ images: number; bytes: number }>(`SELECT count(*) AS images, sum(bytes) AS bytes FROM images WHERE state = 'uploaded'`));
    expect(s.backlog).toEqual(q<{ images: number; bytes: number }>(`SELECT count(*) AS images, coalesce(sum(bytes), 0) AS bytes FROM images WHERE state IN ('queued', 'uploading')`));
    expect({ dead: s.dead, evicted: s.evicted }).toEqual({ dead: 1, evicted: 1 });
    expect(s.uploaded_per_day).toHaveLength(30);
    expect(s.uploaded_per_day[0]?.date).toBe('2026-10-25');
    expect(s.uploaded_per_day[29]?.date).toBe('2026-11-23');
    const perDay = db.prepare(`SELECT substr(uploaded_at, 1, 10) AS d, count(*) AS n FROM images WHERE state = 'uploaded' GROUP BY 1`).all() as Array<{ d: string; n: number }>;
    for (const day of s.uploaded_per_day) expect(day.images).toBe(perDay.find((p) => p.d === day.date)?.n ?? 0);
    expect(s.uploaded_per_day.reduce((a, d) => a + d.images, 0)).toBe(20);
  });

  it('received_per_day counts every receipt by its UTC day: backfilled by migration 0017, then kept by its trigger', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stats-'));
    dirs.push(dir);
    const db = openLedger(path.join(dir, 'ledger.db'));
    // A ledger of the release before: rows received over 40 days (10 outside the window), duplicates among them.
    migrate(db, loadMigrations().filter((m) => m.version < 17));
    const ledger = new ImageLedger(db);
    const now = new Date('2026-11-23T12:00:00Z');
    const row = (i: number, daysAgo: number, bytes: string) => ({
      id: `R${String(i).padStart(4, '0')}`, device_id: `cam-${i % 3}`, sha256: sha(bytes), bytes: 100 + i, content_type: 'image/jpeg',
      path: `images/r${i}.jpg`, s3_key: `r/${i}`, received_at: new Date(now.getTime() - daysAgo * 86_400_000 - 3_600_000 - i).toISOString(),
    });
    ledger.insertMany(Array.from({ length: 120 }, (_, i) => row(i, i % 40, `old-${i % 100}`)));
    expect(migrate(db).applied).toEqual([17]);
    // After the migration: a backlog arriving today (none uploaded), with a resend of old bytes by another device.
    ledger.insertMany(Array.from({ length: 15 }, (_, i) => row(200 + i, 0, i === 0 ? 'old-3' : `new-${i}`)));

    expect((db.prepare(`SELECT count(*) AS n FROM images WHERE state = 'duplicate' AND id >= 'R0200'`).get() as { n: number }).n).toBe(1);

    const s = ledger.stats(now);
    expect(s.received_per_day.map((d) => d.date)).toEqual(s.uploaded_per_day.map((d) => d.date));
    expect(s.received_per_day).toHaveLength(30);
    expect(s.received_per_day[29]?.date).toBe('2026-11-23');
    const byDay = db.prepare(`SELECT substr(received_at, 1, 10) AS d, count(*) AS n, sum(bytes) AS b FROM images GROUP BY 1`).all() as Array<{ d: string; n: number; b: number }>;
    for (const day of s.received_per_day) {
      const want = byDay.find((p) => p.d === day.date);
      expect({ date: day.date, images: day.images, bytes: day.bytes }).toEqual({ date: day.date, images: want?.n ?? 0, bytes: want?.b ?? 0 });
    }
    expect(s.received_per_day[29]?.images).toBe(3 + 15); // today: 3 backfilled rows (i % 40 = 0) and the 15 new ones
    expect(s.uploaded_per_day[29]?.images).toBe(0);
    expect(s.received_per_day.reduce((a, d) => a + d.images, 0)).toBe(90 + 15); // 30 of every 40 days are in the window
  });

  it('uploaded_per_day of a ledger older than 0010 is counted again by day in 0017 (0010 put every upload under one day)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stats-'));
    dirs.push(dir);
    const db = openLedger(path.join(dir, 'ledger.db'));
    migrate(db, loadMigrations().filter((m) => m.version < 10));
    const now = new Date('2026-11-23T12:00:00Z');
    const insert = db.prepare(`INSERT INTO images (id, device_id, sha256, bytes, content_type, path, s3_key, state, next_attempt_at, received_at, uploaded_at)
      VALUES (?, 'cam', ?, 100, 'image/jpeg', ?, ?, 'uploaded', ?, ?, ?)`);
    for (let i = 0; i < 12; i++) {
      const at = new Date(now.getTime() - (i % 4) * 86_400_000).toISOString();
      insert.run(`U${i}`, sha(`u-${i}`), `images/u${i}.jpg`, `u/${i}`, at, at, at);
    }
    migrate(db, loadMigrations().filter((m) => m.version < 17));
    const ledger = new ImageLedger(db);
    expect(ledger.stats(now).uploaded_per_day.filter((d) => d.images > 0)).toHaveLength(1); // 0010's backfill: one day holds all 12
    migrate(db);
    const days = ledger.stats(now).uploaded_per_day.slice(-4).map((d) => d.images);
    expect(days).toEqual([3, 3, 3, 3]);
    expect(ledger.stats(now).received_per_day.slice(-4).map((d) => d.images)).toEqual([3, 3, 3, 3]);
  });

  it('GET /admin/stats answers with the admin token only', async () => {
    const s3 = await startTestS3();
    const token = 'stats-test-token-0123456789abcdefghijkl';
    const svc = await startInProcess(s3, { ADMIN_TOKEN: token, UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      for (let i = 0; i < 3; i++) expect((await postImage(svc.baseUrl, `cam-${i}`, fakeJpeg(2000))).status).toBe(202);
      expect((await fetch(`${svc.baseUrl}/admin/stats`)).status).toBe(401);
      const res = await fetch(`${svc.baseUrl}/admin/stats`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const stats = (await res.json()) as LedgerStats;
      expect(stats).toMatchObject({ receipts: 3, unique_images: 3, duplicates: 0, most_popular_format: { content_type: 'image/jpeg', images: 3 } });
      // Today's receipts show at once, whether or not they reached S3 yet (the day before too, had UTC midnight passed meanwhile).
      const lastTwo = stats.received_per_day.slice(-2);
      expect(lastTwo.map((d) => d.images).reduce((a, b) => a + b, 0)).toBe(3);
      expect(stats.uploaded_per_day).toHaveLength(30);
    } finally {
      await svc.close();
      await s3.close();
    }
  });
});
