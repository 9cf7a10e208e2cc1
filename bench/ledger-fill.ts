/**
 * A large ledger, fast: the real migrations, then one `INSERT ... SELECT` over a recursive CTE, so the
 * counting triggers and every index see each row as in production, without a JS round trip per row. Ids are
 * real ULIDs (their time part is the receive time, as the status page's hour ranges assume); SHA-256 values
 * are distinct. The newest `queued` rows are the backlog (due now), everything older is `uploaded`.
 */
import { createHash } from 'node:crypto';
import { migrate } from '../src/ledger/migrate.js';
import type { Db } from '../src/ledger/open.js';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MODELS = 40;
export const FILL_IMAGE_BYTES = 4_000_000;
export const FILL_DEVICES = 500;

export interface FillPlan {
  rows: number;
  queued: number;
  /** Receive times spread evenly over the days before `now`. */
  days: number;
  now: number;
}

/** A ULID for receive time `ms`, made unique by `n` (the random part encodes it). */
function ulid(ms: number, n: number): string {
  let time = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let rand = '';
  let r = n;
  for (let i = 0; i < 16; i++) {
    rand = ALPHABET[r % 32] + rand;
    r = Math.floor(r / 32);
  }
  return time + rand;
}

/** Migrates `db` and fills it; returns the seconds the insert took. */
export function fillLedger(db: Db, plan: FillPlan): number {
  migrate(db);
  db.function('bench_ulid', { deterministic: true }, (ms: unknown, n: unknown) => ulid(Number(ms), Number(n)));
  db.function('bench_sha', { deterministic: true }, (n: unknown) => createHash('sha256').update(`bench-${String(n)}`).digest('hex'));
  db.function('bench_iso', { deterministic: true }, (ms: unknown) => new Date(Number(ms)).toISOString());
  const start = plan.now - plan.days * 86_400_000;
  const step = (plan.days * 86_400_000) / plan.rows;
  const uploadedRows = plan.rows - plan.queued;
  const started = performance.now();
  db.transaction(() => {
    db.prepare(`WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < @rows - 1),
      t AS (SELECT i, CAST(@start + i * @step AS INTEGER) AS ms FROM seq),
      r AS (SELECT i, ms, bench_ulid(ms, i) AS id, bench_iso(ms) AS at, 'cam-' || (i % @devices) AS device, i < @uploaded AS up FROM t)
      INSERT INTO images (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at,
        received_at, uploaded_at, camera_model, metadata_at)
      SELECT id, device, bench_sha(i), @bytes, CASE WHEN i % 10 = 0 THEN 'image/png' ELSE 'image/jpeg' END,
        'images/' || id || '.jpg', device || '/' || id || '.jpg',
        CASE WHEN up THEN 'uploaded' ELSE 'queued' END, up, at, at, CASE WHEN up THEN bench_iso(ms + 60000) END,
        CASE WHEN i % 7 = 0 THEN NULL ELSE 'Model ' || ((i * 7919) % @models) END, at
      FROM r`).run({ rows: plan.rows, start, step, devices: FILL_DEVICES, bytes: FILL_IMAGE_BYTES, uploaded: uploadedRows, models: MODELS });
  })();
  const seconds = (performance.now() - started) / 1000;
  db.pragma('wal_checkpoint(TRUNCATE)');
  return seconds;
}

/** The queued rows (the backlog), as recovery will look for their files. */
export function queuedFiles(db: Db): Array<{ path: string; bytes: number }> {
  return db.prepare(`SELECT path, bytes FROM images WHERE state = 'queued'`).all() as Array<{ path: string; bytes: number }>;
}


