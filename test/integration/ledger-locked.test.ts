/**
 * Issue 18 item 9: an operator's `sqlite3` holds `BEGIN IMMEDIATE` on the running service's ledger. SQLite's
 * busy wait is synchronous: with it the whole event loop stopped (no acks for 10 s, /healthz 9.9 s). Now
 * ingest answers 503 ledger_busy with Retry-After within a second, /healthz, /metrics and the status page
 * keep answering, /readyz names the process, and once the lock ends images are taken again and every
 * acknowledged one reaches S3 exactly once (uploads that finished during the lock are recorded after it).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { curlPostImage } from '../helpers/curl.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';
import { s3Env, startTestS3 } from '../helpers/s3.js';
import { startServiceProcess } from '../helpers/service-process.js';
import { SqliteShell, sqliteCliMissing } from '../helpers/sqlite-cli.js';

const missing = sqliteCliMissing();
if (missing !== null) console.warn(`ledger-locked.test.ts skipped: ${missing}`);

const LOCK_MS = 8000;

interface Answer {
  via: 'fetch' | 'curl';
  status: number;
  code: unknown;
  retryAfter: string | null;
  ms: number;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Polls an endpoint back to back for as long as `running()`; returns each answer's latency. */
async function pollLatencies(url: string, running: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (running()) {
    const started = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return latencies;
}

describe.skipIf(missing !== null)('an operator holding the ledger\'s write lock with sqlite3', () => {
  it('refuses images with 503 ledger_busy quickly while health, metrics and status answer, and loses nothing', async () => {
    const s3 = await startTestS3();
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-locked-'));
    const svc = await startServiceProcess({ ...s3Env(s3), SPOOL_DIR: spoolDir, SPOOL_MIN_FREE_BYTES: '0', UPLOAD_BWLIMIT: '2MB', RETRY_BASE_MS: '50' });
    const shell = new SqliteShell(path.join(spoolDir, 'ledger.db'));
    const acked = new Map<string, Buffer>();
    const post = async (device: string, bytes: Buffer): Promise<Answer> => {
      const started = performance.now();
      const res = await postImage(svc.baseUrl, device, bytes);
      if (res.status === 202) acked.set(res.body['id'] as string, bytes);
      return { via: 'fetch', status: res.status, code: (res.body['error'] as { code?: unknown } | undefined)?.code, retryAfter: res.headers.get('retry-after'), ms: performance.now() - started };
    };
    const curlPost = async (device: string, bytes: Buffer): Promise<Answer> => {
      const file = path.join(spoolDir, `curl-${device}.jpg`);
      await writeFile(file, bytes);
      const started = performance.now();
      const res = await curlPostImage(svc.baseUrl, device, file);
      if (res.status === 202) acked.set(res.body['id'] as string, bytes);
      return { via: 'curl', status: res.status, code: (res.body['error'] as { code?: unknown } | undefined)?.code, retryAfter: res.retryAfter, ms: performance.now() - started };
    };
    let locked = false;
    const background: Array<Promise<unknown>> = [];
    const token = (await readFile(path.join(spoolDir, 'admin.token'), 'utf8')).trim();
    const admin = (method: string, route: string, body?: unknown): Promise<Response> =>
      fetch(`${svc.baseUrl}${route}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const linkPost = async (url: string, bytes: Buffer): Promise<Answer> => {
      const form = new FormData();
      form.append('image', new Blob([bytes]), 'p.jpg');
      const started = performance.now();
      const res = await fetch(url, { method: 'POST', body: form });
      const body = (await res.json()) as Array<{ id: string }> | { error: { code: string } };
      if (res.status === 202 && Array.isArray(body)) for (const r of body) acked.set(r.id, bytes);
      return { via: 'fetch', status: res.status, code: Array.isArray(body) ? null : body.error.code, retryAfter: res.headers.get('retry-after'), ms: performance.now() - started };
    };
    const timed = async (work: () => Promise<Response>): Promise<Answer> => {
      const started = performance.now();
      const res = await work();
      const body = (await res.json()) as { error?: { code?: string } };
      return { via: 'fetch', status: res.status, code: body.error?.code, retryAfter: res.headers.get('retry-after'), ms: performance.now() - started };
    };
    try {
      const link = (await (await admin('POST', '/admin/links', { expires_in: '1h', device_id: 'kiosk-1' })).json()) as { url: string };
      // Uploads in flight when the lock is taken (4 MB at 2 MB/s): they finish during it.
      for (let i = 0; i < 4; i++) expect((await post(`early-${i}`, fakeJpeg(1_000_000))).status).toBe(202);

      await shell.run('BEGIN IMMEDIATE;');
      const lockedAt = Date.now();
      locked = true;
      const health = pollLatencies(`${svc.baseUrl}/healthz`, () => locked);
      const statusPage = pollLatencies(`${svc.baseUrl}/status.json`, () => locked);
      const devices = ['cam-a', 'cam-b', 'cam-c'].map(async (device) => {
        const answers: Answer[] = [];
        // New requests stop a second before the release, so every one of them is answered inside the lock.
        for (let n = 0; Date.now() < lockedAt + LOCK_MS - 1000; n++) {
          answers.push(await (n % 2 === 0 ? post(device, fakeJpeg(256_000)) : curlPost(device, fakeJpeg(256_000))));
        }
        return answers;
      });
      // Handled now (awaited below): a failure while the test awaits something else must not go unhandled.
      for (const work of [health, statusPage, ...devices]) background.push(work.catch(() => undefined));

      // While locked: what /readyz and /metrics say, and the other write paths: an upload link, an admin
      // setting (checked below, after the latencies).
      const ready = await fetch(`${svc.baseUrl}/readyz`);
      const readyBody = (await ready.json()) as { failed: string[]; checks: { ledger: { message: string } } };
      const metrics = parseExposition(await (await fetch(`${svc.baseUrl}/metrics`)).text());
      const linkDuringLock = await linkPost(link.url, fakeJpeg(100_000));
      const bwlimitDuringLock = await timed(() => admin('PUT', '/admin/bwlimit', { rate: '1MB' }));

      const duringLock = (await Promise.all(devices)).flat();
      const answeredWithin = Date.now() - lockedAt;
      console.log(`during the ${LOCK_MS} ms lock: ${duringLock.length} uploads answered in max ${Math.round(Math.max(...duringLock.map((a) => a.ms)))} ms, the last ${answeredWithin} ms after the lock began`);
      expect(answeredWithin, 'every upload sent during the lock is answered before it ends').toBeLessThan(LOCK_MS);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, lockedAt + LOCK_MS - Date.now())));
      locked = false;
      await shell.run('ROLLBACK;');
      const healthMs = await health;
      const statusMs = await statusPage;

      console.log(`during the lock: /healthz ${healthMs.length} answers, median ${Math.round(quantile(healthMs, 0.5))} ms, ` +
        `p95 ${Math.round(quantile(healthMs, 0.95))} ms, max ${Math.round(Math.max(...healthMs))} ms; /status.json max ${Math.round(Math.max(...statusMs))} ms`);
      expect(duringLock.length).toBeGreaterThanOrEqual(6);
      expect(new Set(duringLock.map((a) => a.via))).toEqual(new Set(['fetch', 'curl']));
      // LEDGER_LOCK_WAIT_MS (500 ms) after the body is in; the old code answered none of them before the lock
      // ended. Bounds with room for a machine at load 15 (2 cores): the median is the claim, the max the guard.
      for (const a of duringLock) expect(a).toMatchObject({ status: 503, code: 'ledger_busy', retryAfter: '2' });
      expect(quantile(duringLock.map((a) => a.ms), 0.5)).toBeLessThan(1000);
      expect(Math.max(...duringLock.map((a) => a.ms))).toBeLessThan(2000);
      // /healthz answered throughout: well under 100 ms typically (max 30-50 ms measured on a quiet machine);
      // never near the seconds an event loop waiting for the lock took.
      expect(healthMs.length).toBeGreaterThan(20);
      expect(quantile(healthMs, 0.5)).toBeLessThan(100);
      expect(Math.max(...healthMs)).toBeLessThan(1000);
      expect(Math.max(...statusMs)).toBeLessThan(1000);
      // /readyz names the process and the lock; /metrics says locked.
      expect(ready.status).toBe(503);
      expect(readyBody.failed).toContain('ledger');
      expect(readyBody.checks.ledger.message).toContain(`locked by another process: pid ${shell.pid} (sqlite3)`);
      expect(sampleValue(metrics, 'image_spool_ledger_locked')).toBe(1);
      for (const a of [linkDuringLock, bwlimitDuringLock]) {
        expect(a).toMatchObject({ status: 503, code: 'ledger_busy', retryAfter: '2' });
        expect(a.ms).toBeLessThan(2000);
      }

      // After the lock: images are taken again (the first try may still meet a lock retry in flight).
      await waitFor(async () => ((await post('cam-a', fakeJpeg(256_000))).status === 202 ? true : undefined), 10_000, 'an accepted upload after the lock');
      expect((await curlPost('cam-b', fakeJpeg(256_000))).status).toBe(202);
      expect((await linkPost(link.url, fakeJpeg(100_000))).status).toBe(202);
      // The refused override changed nothing.
      expect(await (await admin('GET', '/admin/bwlimit')).json()).toMatchObject({ override: null });

      // Nothing acknowledged is lost: every acked image ends uploaded, once, with its bytes.
      await waitFor(async () => {
        const states = await Promise.all([...acked.keys()].map(async (id) => ((await (await fetch(`${svc.baseUrl}/images/${id}/status`)).json()) as { state: string }).state));
        return states.every((s) => s === 'uploaded') ? true : undefined;
      }, 30_000, 'every acknowledged image uploaded');
      const objects = await s3.listAll();
      for (const [id, bytes] of acked) {
        const keys = objects.filter((o) => o.Key?.includes(id)).map((o) => o.Key as string);
        expect(keys, id).toHaveLength(1);
        expect(sha256Hex(await s3.getBytes(keys[0] as string))).toBe(sha256Hex(bytes));
      }
      expect(objects).toHaveLength(acked.size);
      // The uploads that finished during the lock were recorded after it, not failed.
      expect(svc.logs.join('')).toContain('uploader: the ledger is locked by another process');
      expect(svc.logs.join('')).toContain('upload ok (recorded in the ledger after a retry)');
    } finally {
      locked = false;
      await Promise.allSettled(background);
      await shell.close();
      svc.kill('SIGTERM');
      await svc.exited;
      await s3.close();
      await rm(spoolDir, { recursive: true, force: true });
    }
  }, 90_000);
});
