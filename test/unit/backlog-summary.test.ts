/**
 * `ImageLedger.summary()` (what `status`, `GET /images` and the status page show) reads the trigger-kept
 * counters (constant time) instead of a GROUP BY over every row: through every kind of state change, both
 * must give the same summary.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageLedger } from '../../src/ledger/images.js';
import { migrate } from '../../src/ledger/migrate.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import type { BacklogSummary } from '../../src/ledger/images.js';

/** The same summary by plain SQL over every row (what summary() did before the counters). */
function byGroupBy(db: Db): BacklogSummary {
  const summary: BacklogSummary = { queued: 0, uploading: 0, uploaded: 0, dead: 0, evicted: 0, duplicate: 0, backlog_bytes: 0, oldest_queued_at: null };
  for (const row of db.prepare('SELECT state, count(*) AS n, sum(bytes) AS b FROM images GROUP BY state').all() as Array<{ state: string; n: number; b: number }>) {
    (summary as unknown as Record<string, number>)[row.state] = row.n;
    if (row.state === 'queued' || row.state === 'uploading') summary.backlog_bytes += row.b;
  }
  summary.oldest_queued_at = (db.prepare(`SELECT min(received_at) AS t FROM images WHERE state IN ('queued', 'uploading')`).get() as { t: string | null }).t;
  return summary;
}

describe('ImageLedger.summary()', () => {
  it('agrees with a GROUP BY over the rows through ingest, claim, upload, retry, death, requeue and eviction', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'backlog-counts-'));
    const db = openLedger(path.join(dir, 'ledger.db'));
    try {
      migrate(db);
      const ledger = new ImageLedger(db);
      const same = (): void => expect(ledger.summary()).toEqual(byGroupBy(db));
      same();
      const t0 = Date.UTC(2026, 0, 1);
      ledger.insertMany(Array.from({ length: 12 }, (_, i) => {
        const id = `01M8${String(i).padStart(22, '0')}`;
        return { id, device_id: `cam-${i % 3}`, sha256: i.toString(16).padStart(64, '0'), bytes: 1000 * (i + 1), content_type: 'image/jpeg', path: `${id}.jpg`, s3_key: `k/${id}`, received_at: new Date(t0 + (12 - i) * 1000).toISOString() };
      }));
      same();
      const now = new Date(t0 + 60_000);
      const a = ledger.claimNext(now);
      const b = ledger.claimNext(now);
      const c = ledger.claimNext(now);
      const d = ledger.claimNext(now);
      same();
      ledger.markUploaded(a?.id as string, now);
      ledger.scheduleRetry(b?.id as string, new Date(t0 + 120_000), 'timeout');
      ledger.markDead(c?.id as string, 'uploading', 'refused');
      same();
      expect(ledger.requeueDead(c?.id as string, now)).toBe(true);
      ledger.release(d?.id as string, now);
      same();
      ledger.evictOldest(5000, 'spool full');
      same();
      expect(ledger.summary()).toMatchObject({ uploaded: 1, uploading: 0, evicted: expect.any(Number) });
      expect(ledger.summary().evicted).toBeGreaterThan(0);
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
