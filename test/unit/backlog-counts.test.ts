/**
 * `status` reads the backlog from the trigger-kept counters (constant time) instead of a GROUP BY over
 * every row: through every kind of state change, both must give the same summary.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BacklogCounts } from '../../src/ledger/backlog-counts.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { migrate } from '../../src/ledger/migrate.js';
import { openLedger } from '../../src/ledger/open.js';

describe('BacklogCounts', () => {
  it('agrees with ImageLedger.summary() through ingest, claim, upload, retry, death, requeue and eviction', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'backlog-counts-'));
    const db = openLedger(path.join(dir, 'ledger.db'));
    try {
      migrate(db);
      const ledger = new ImageLedger(db);
      const counts = new BacklogCounts(db);
      const same = (): void => expect(counts.summary()).toEqual(ledger.summary());
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
      expect(counts.summary()).toMatchObject({ uploaded: 1, uploading: 0, evicted: expect.any(Number) });
      expect(counts.summary().evicted).toBeGreaterThan(0);
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
