/**
 * `image-spool verify` walks the ledger's uploaded rows a page at a time with a bounded number of checks in
 * flight: a real ledger of 1,234 rows (some in other states) read in pages of 100 by 8 workers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { differences, verifyRows } from '../../src/cli/verify-run.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { migrate } from '../../src/ledger/migrate.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import { UPLOADED_PAGE_SQL, uploadedRows, type UploadedRow } from '../../src/ledger/uploaded-rows.js';
import type { Finding } from '../../src/s3/verify-object.js';

const ROWS = 1234;

describe('verifyRows over uploadedRows', () => {
  let dir: string;
  let db: Db;
  const uploaded: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'verify-rows-'));
    db = openLedger(path.join(dir, 'ledger.db'));
    migrate(db);
    const ledger = new ImageLedger(db);
    const base = Date.UTC(2026, 0, 1);
    ledger.insertMany(Array.from({ length: ROWS }, (_, i) => {
      const id = `01M8${String(i).padStart(22, '0')}`;
      return { id, device_id: 'cam', sha256: i.toString(16).padStart(64, '0'), bytes: 100 + i, content_type: 'image/jpeg', path: `${id}.jpg`, s3_key: `cam/${id}.jpg`, received_at: new Date(base + i * 1000).toISOString() };
    }));
    // Every 10th row stays queued; every 10th+1 goes dead; the rest are uploaded, an hour apart each.
    const up = db.prepare(`UPDATE images SET state = 'uploaded', uploaded_at = ? WHERE id = ?`);
    const dead = db.prepare(`UPDATE images SET state = 'dead' WHERE id = ?`);
    db.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const id = `01M8${String(i).padStart(22, '0')}`;
        if (i % 10 === 0) continue;
        if (i % 10 === 1) dead.run(id);
        else {
          up.run(new Date(base + i * 3_600_000).toISOString(), id);
          uploaded.push(id);
        }
      }
    })();
  });

  afterAll(async () => {
    db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('checks every uploaded row exactly once, 8 at a time, pulling rows only as workers free up', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let pulled = 0;
    let done = 0;
    let maxAhead = 0;
    const seen: string[] = [];
    const source = uploadedRows(db, { pageSize: 100 });
    const counting: Iterator<UploadedRow> = {
      next: () => {
        const r = source.next();
        if (!r.done) pulled++;
        maxAhead = Math.max(maxAhead, pulled - done);
        return r;
      },
    };
    const findings: Finding[] = [];
    const summary = await verifyRows(counting, async (row) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      seen.push(row.id);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
      inFlight--;
      done++;
      return Number(row.id.slice(4)) % 97 === 0 ? { id: row.id, s3_key: row.s3_key, kind: 'missing' } : null;
    }, { concurrency: 8, onFinding: (f) => findings.push(f) });

    expect(seen.length).toBe(uploaded.length);
    expect([...seen].sort()).toEqual(uploaded);
    expect(maxInFlight).toBe(8);
    expect(maxAhead).toBeLessThanOrEqual(8);
    const missing = uploaded.filter((id) => Number(id.slice(4)) % 97 === 0);
    expect(findings.map((f) => f.id).sort()).toEqual(missing);
    expect(summary).toEqual({ checked: uploaded.length, ok: uploaded.length - missing.length, missing: missing.length, size_mismatch: 0, checksum_mismatch: 0, checksum_missing: 0, error: 0 });
    expect(differences(summary)).toBe(missing.length);
  });

  it('honours --limit (in id order) and --since (by uploaded_at) across page boundaries', () => {
    const limited = [...uploadedRows(db, { pageSize: 100, limit: 250 })].map((r) => r.id);
    expect(limited).toEqual(uploaded.slice(0, 250));
    const since = new Date(Date.UTC(2026, 0, 1) + 1000 * 3_600_000).toISOString();
    const recent = [...uploadedRows(db, { pageSize: 100, since })].map((r) => r.id);
    expect(recent).toEqual(uploaded.filter((id) => Number(id.slice(4)) >= 1000));
    expect(recent.length).toBeGreaterThan(150);
  });

  it('pages along the primary key, never sorting all uploaded rows per page (a million rows: 2 s, not minutes)', () => {
    for (const since of [null, '2026-01-10T00:00:00.000Z']) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${UPLOADED_PAGE_SQL}`).all({ after: '', since, limit: 500 }) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
      expect(plan).toMatch(/^SEARCH images USING INDEX sqlite_autoindex_images_\w+ \(id>\?\)$/);
    }
  });

  it('retries a check that errors, and counts it as an error only when every try failed', async () => {
    const tries = new Map<string, number>();
    const rows = uploadedRows(db, { limit: 20 });
    const summary = await verifyRows(rows, async (row) => {
      const n = (tries.get(row.id) ?? 0) + 1;
      tries.set(row.id, n);
      const flaky = Number(row.id.slice(4)) % 2 === 0;
      // Even rows fail twice then pass; the first row fails always.
      if (row.id === uploaded[0] || (flaky && n < 3)) return { id: row.id, s3_key: row.s3_key, kind: 'error', message: 'ECONNRESET' };
      return null;
    }, { concurrency: 4, attempts: 3, retryDelayMs: () => 0, onFinding: () => undefined });
    expect(summary).toMatchObject({ checked: 20, ok: 19, error: 1 });
    expect(tries.get(uploaded[0] as string)).toBe(3);
    expect(differences(summary)).toBe(0);
  });
});
