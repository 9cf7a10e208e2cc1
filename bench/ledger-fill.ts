/**
 * A large ledger, fast: the real migrations, then one `INSERT ... SELECT` over a recursive CTE, so the
 * counting triggers and every index see each row as in production, without a JS round trip per row. Ids are
 * real ULIDs (their time part is the receive time, as the status page's hour ranges assume); SHA-256 values
 * are distinct. The newest `queued` rows are the backlog (due now), everything older is `uploaded`.
 *
 * A queued row's SHA-256 is that of the file writeQueuedFile makes for it (zeros, sparse, then the row's id),
 * so the uploader's check before sending passes. With made-up hashes every claim failed it: the service
 * spent a core hashing 4 MB files and marking them corrupt, and the million-row ingest ratio measured that.
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
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

/** Bytes at the end of a queued row's file: its id, padded, after zeros. */
const TAIL_BYTES = 32;

function fileTail(id: string): Buffer {
  return Buffer.from(id.padEnd(TAIL_BYTES, ' '), 'latin1');
}

/** SHA-256 of the files writeQueuedFile makes, from one hash of the zeros (cloned per file). */
function contentHasher(bytes: number): (id: string) => string {
  const zeros: Hash = createHash('sha256');
  const block = Buffer.alloc(1 << 20);
  for (let left = bytes - TAIL_BYTES; left > 0; left -= block.length) zeros.update(left >= block.length ? block : block.subarray(0, left));
  return (id) => zeros.copy().update(fileTail(id)).digest('hex');
}

/** The file a queued row's SHA-256 describes: sparse zeros, then the row's id in its last bytes. */
export async function writeQueuedFile(file: string, row: { id: string; bytes: number }): Promise<void> {
  const handle = await open(file, 'w');
  try {
    await handle.truncate(row.bytes);
    await handle.write(fileTail(row.id), 0, TAIL_BYTES, row.bytes - TAIL_BYTES);
  } finally {
    await handle.close();
  }
}

/** Migrates `db` and fills it; returns the seconds the insert took. */
export function fillLedger(db: Db, plan: FillPlan): number {
  migrate(db);
  db.function('bench_ulid', { deterministic: true }, (ms: unknown, n: unknown) => ulid(Number(ms), Number(n)));
  const contentSha = contentHasher(FILL_IMAGE_BYTES);
  db.function('bench_sha', { deterministic: true }, (n: unknown, id: unknown, up: unknown) =>
    (Number(up) ? createHash('sha256').update(`bench-${String(n)}`).digest('hex') : contentSha(String(id))));
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
      SELECT id, device, bench_sha(i, id, up), @bytes, CASE WHEN i % 10 = 0 THEN 'image/png' ELSE 'image/jpeg' END,
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
export function queuedFiles(db: Db): Array<{ id: string; path: string; bytes: number }> {
  return db.prepare(`SELECT id, path, bytes FROM images WHERE state = 'queued'`).all() as Array<{ id: string; path: string; bytes: number }>;
}


