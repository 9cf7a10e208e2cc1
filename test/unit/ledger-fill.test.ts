import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fillLedger, FILL_IMAGE_BYTES, queuedFiles, writeQueuedFile } from '../../bench/ledger-fill.js';
import { openLedger } from '../../src/ledger/open.js';
import { verifySpooledFile } from '../../src/spool/verify.js';

// The scale bench's backlog must pass the uploader's check before sending: with made-up hashes every claim
// failed it, and the million-row service spent a core hashing and marking files corrupt (docs/BENCHMARKS.md).
describe('bench ledger fill', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("writes each queued row's file so that it matches the row's size and SHA-256", async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ledger-fill-'));
    const db = openLedger(path.join(dir, 'ledger.db'));
    try {
      fillLedger(db, { rows: 40, queued: 4, days: 1, now: Date.now() });
      const files = queuedFiles(db);
      expect(files).toHaveLength(4);
      const shas = new Set<string>();
      for (const f of files) {
        await writeQueuedFile(path.join(dir, path.basename(f.path)), f);
        const row = db.prepare('SELECT bytes, sha256 FROM images WHERE id = ?').get(f.id) as { bytes: number; sha256: string };
        expect(row.bytes).toBe(FILL_IMAGE_BYTES);
        await verifySpooledFile(path.join(dir, path.basename(f.path)), row.bytes, row.sha256);
        shas.add(row.sha256);
        // Sparse: the zeros take no disk blocks, so 100,000 of them build in seconds.
        expect((await stat(path.join(dir, path.basename(f.path)))).blocks * 512).toBeLessThan(FILL_IMAGE_BYTES / 4);
      }
      expect(shas.size).toBe(4);
    } finally {
      db.close();
    }
  });
});
