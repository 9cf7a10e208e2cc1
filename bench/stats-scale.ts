/**
 * GET /admin/stats at a million rows (issue 5: under 100 ms). A ledger with 1,000,000 images (900,000
 * uploaded over the past 30 days, 100,000 queued; 40 camera models, some unknown; 5% duplicate bytes) is
 * built with the real migrations (so the counting triggers run for every row), then ImageLedger.stats()
 * is timed against the same figures computed by plain GROUP BY queries in the same run (the baseline).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImageLedger } from '../src/ledger/images.js';
import { migrate } from '../src/ledger/migrate.js';
import { openLedger } from '../src/ledger/open.js';
import { percentile, type Row } from './harness.js';

const MODELS = Array.from({ length: 40 }, (_, i) => `Model ${i}`);

export async function runStatsScale(rows: number): Promise<Row[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-stats-'));
  try {
    const db = openLedger(path.join(dir, 'ledger.db'));
    migrate(db);
    const built = performance.now();
    fill(db, rows);
    const buildS = (performance.now() - built) / 1000;
    const ledger = new ImageLedger(db);
    const now = new Date();
    const time = (fn: () => unknown, n: number): number[] => Array.from({ length: n }, () => {
      const t = performance.now();
      fn();
      return performance.now() - t;
    });
    ledger.stats(now); // warm the page cache as a running service would be
    const fast = time(() => ledger.stats(now), 30);
    const naive = time(() => naiveStats(db), 3);
    db.close();
    const row = (metric: string, value: string, target: string, result: string): Row =>
      ({ bench: 'stats', metric, spool: value, target, spoolResult: result, rclone: '-', rcloneResult: '' });
    const p50 = percentile(fast, 50);
    const p99 = percentile(fast, 99);
    return [
      row(`ledger of ${rows.toLocaleString('en')} rows built (with counting triggers)`, `${buildS.toFixed(1)} s`, 'info', ''),
      row('GET /admin/stats query p50 / p99 (30 calls)', `${p50.toFixed(2)} / ${p99.toFixed(2)} ms`, '< 100 ms', p99 < 100 ? 'PASS' : 'FAIL'),
      row('same figures by GROUP BY over the rows (baseline, same run), median', `${percentile(naive, 50).toFixed(0)} ms`, 'info', ''),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function fill(db: ReturnType<typeof openLedger>, rows: number): void {
  const insert = db.prepare(`INSERT INTO images (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts,
    next_attempt_at, received_at, uploaded_at, camera_model, metadata_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`);
  const dayMs = 86_400_000;
  const start = Date.now() - 30 * dayMs;
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const id = `B${String(i).padStart(25, '0')}`;
      const t = new Date(start + Math.floor((i / rows) * 30 * dayMs)).toISOString();
      const uploaded = i < rows * 0.9;
      // 5% of images repeat an earlier image's bytes from another device.
      const sha = createHash('sha256').update(String(i % 20 === 0 && i > 0 ? i - 1 : i)).digest('hex');
      const model = i % 7 === 0 ? null : MODELS[(i * 7919) % MODELS.length] ?? null;
      insert.run(id, `cam-${i % 500}`, sha, 4_000_000, i % 10 === 0 ? 'image/png' : 'image/jpeg', `images/${id}.jpg`, `cam/${id}.jpg`,
        uploaded ? 'uploaded' : 'queued', t, t, uploaded ? t : null, model, t);
    }
  })();
}

function naiveStats(db: ReturnType<typeof openLedger>): unknown {
  return [
    db.prepare('SELECT content_type, count(*) FROM images GROUP BY 1 ORDER BY 2 DESC').all(),
    db.prepare('SELECT camera_model, count(*) FROM images WHERE camera_model IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 10').all(),
    db.prepare('SELECT count(*) FROM images WHERE camera_model IS NULL').get(),
    db.prepare(`SELECT substr(uploaded_at, 1, 10), count(*) FROM images WHERE uploaded_at >= date('now', '-30 days') GROUP BY 1`).all(),
    db.prepare('SELECT count(*), count(DISTINCT sha256) FROM images').get(),
    db.prepare('SELECT state, count(*), sum(bytes) FROM images GROUP BY 1').all(),
  ];
}
