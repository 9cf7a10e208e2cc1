/**
 * Overload and resends (issue 4): a full spool answers 507 with Retry-After before the disk is full, or
 * evicts the oldest queued images; too many ingests at once get 503; a device's resend returns its first
 * receipt. Every case checks what is left: rows, files, and that nothing acknowledged was lost.
 */
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, type InProcessService } from '../helpers/in-process.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const IMAGE = 100_000;

async function withService(env: Record<string, string>, body: (svc: InProcessService, s3: TestS3) => Promise<void>): Promise<void> {
  const s3 = await startTestS3();
  // 1KB/s: uploads barely move, so the spool fills as it would behind a slow uplink.
  // One upload at a time, so "the one being uploaded" is always the oldest image.
  const svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100', ...env });
  try {
    await body(svc, s3);
  } finally {
    await svc.close();
    await s3.close();
  }
}

describe('overload policy and device resends', () => {
  it('reject: 507 with Retry-After once SPOOL_MAX_BYTES would be exceeded, nothing acknowledged is lost', async () => {
    await withService({ SPOOL_MAX_BYTES: String(5 * IMAGE + 50_000) }, async (svc) => {
      const acked: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(IMAGE));
        expect(res.status).toBe(202);
        acked.push(res.body['id'] as string);
      }
      const full = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(IMAGE));
      expect(full.status).toBe(507);
      expect(full.body).toMatchObject({ error: { code: 'disk_full' } });
      // Seconds until the uploads at the current 1KB/s have drained the overshoot, capped at an hour.
      const retryAfter = Number(full.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(3600);
      for (const id of acked) expect(['queued', 'uploading']).toContain(svc.service.ledger.get(id)?.state);
      expect((await svc.files()).filter((f) => !f.endsWith('.part'))).toHaveLength(5);
      expect(svc.service.ledger.summary().queued + svc.service.ledger.summary().uploading).toBe(5);
    });
  });

  it('reject: room comes back as images are uploaded (the spool size follows the ledger, no bookkeeping of its own)', async () => {
    await withService({ SPOOL_MAX_BYTES: String(2 * IMAGE + 50_000), UPLOAD_BWLIMIT: '50MB', UPLOAD_CONCURRENCY: '4' }, async (svc) => {
      for (let i = 0; i < 6; i++) {
        const res = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(IMAGE));
        expect(res.status).toBe(202);
        const id = res.body['id'] as string;
        const deadline = Date.now() + 10_000;
        while (svc.service.ledger.get(id)?.state !== 'uploaded' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      }
      expect(svc.service.ledger.summary().uploaded).toBe(6);
    });
  });

  it('evict-oldest: admits new images by evicting the oldest queued ones (never the one uploading), each recorded', async () => {
    await withService({ SPOOL_MAX_BYTES: String(3 * IMAGE + 50_000), SPOOL_FULL_POLICY: 'evict-oldest' }, async (svc) => {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await postImage(svc.baseUrl, `cam-${i}`, fakeJpeg(IMAGE));
        expect(res.status).toBe(202);
        ids.push(res.body['id'] as string);
      }
      const states = ids.map((id) => svc.service.ledger.get(id)?.state);
      // The first image was claimed by the uploader at once (1KB/s keeps it uploading): never evicted.
      expect(states[0]).toBe('uploading');
      expect(states.filter((s) => s === 'evicted')).toHaveLength(3);
      // The newest three are kept; the evicted are the oldest queued ones, in order.
      expect(states.slice(1, 4)).toEqual(['evicted', 'evicted', 'evicted']);
      expect(states.slice(4)).toEqual(['queued', 'queued']);
      expect(svc.service.ledger.summary().evicted).toBe(3);
      // Their files are gone; the others are on disk.
      const files = await svc.files();
      for (const [i, id] of ids.entries()) expect(files.some((f) => f.startsWith(id))).toBe(states[i] !== 'evicted');
    });
  });

  it('answers 503 with Retry-After beyond MAX_CONCURRENT_UPLOADS, and admits again once a slot is free', async () => {
    await withService({ MAX_CONCURRENT_UPLOADS: '2' }, async (svc) => {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => postImage(svc.baseUrl, `cam-${i}`, fakeJpeg(IMAGE))));
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(2);
      const busy = results.filter((r) => r.status === 503);
      expect(busy.length).toBeGreaterThan(0);
      for (const r of busy) {
        expect(r.body).toMatchObject({ error: { code: 'too_busy' } });
        expect(r.headers.get('retry-after')).toBe('1');
      }
      expect(statuses.every((s) => s === 202 || s === 503)).toBe(true);
      expect((await postImage(svc.baseUrl, 'cam-late', fakeJpeg(IMAGE))).status).toBe(202);
      // Exactly the acknowledged images have rows.
      expect(svc.service.ledger.summary().queued + svc.service.ledger.summary().uploading).toBe(statuses.filter((s) => s === 202).length + 1);
    });
  });

  it('a resend of the same bytes by the same device returns the first receipt (200, duplicate) with no second file or object', async () => {
    await withService({ UPLOAD_BWLIMIT: '50MB' }, async (svc, s3) => {
      const image = fakeJpeg(IMAGE);
      const first = await postImage(svc.baseUrl, 'cam-9', image);
      expect(first.status).toBe(202);
      const again = await postImage(svc.baseUrl, 'cam-9', image);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: first.body['id'], sha256: sha256Hex(image), duplicate: true });
      // Another device with the same bytes is a new receipt, but not a second copy (cross-device dedup).
      const other = await postImage(svc.baseUrl, 'cam-10', image);
      expect(other).toMatchObject({ status: 202, body: { device_id: 'cam-10', duplicate: true, duplicate_of: first.body['id'] } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const deadline = Date.now() + 10_000;
      while (svc.service.ledger.summary().uploaded < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(svc.service.ledger.summary()).toMatchObject({ uploaded: 1, duplicate: 1, queued: 0, uploading: 0 });
      expect(await s3.listAll()).toHaveLength(1);
      // After the upload, a late resend still gets the receipt, now saying uploaded.
      const late = await postImage(svc.baseUrl, 'cam-9', image);
      expect(late).toMatchObject({ status: 200, body: { id: first.body['id'], status: 'uploaded', duplicate: true } });
      expect(await s3.listAll()).toHaveLength(1);
    });
  });

  it('honours Idempotency-Key: same key and bytes = first receipt; same key, other bytes = 409; bad key = 400', async () => {
    await withService({}, async (svc) => {
      const headers = { 'Idempotency-Key': 'c0ffee-0001' };
      const first = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(IMAGE), 'a.jpg', headers);
      expect(first.status).toBe(202);
      const resend = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(IMAGE).fill(7, 4), 'a.jpg', headers);
      expect(resend.status).toBe(409);
      expect(resend.body).toMatchObject({ error: { code: 'idempotency_key_reused' } });
      const bad = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(IMAGE), 'a.jpg', { 'Idempotency-Key': 'has spaces in it' });
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'invalid_idempotency_key' } } });
      expect(svc.service.ledger.summary().queued + svc.service.ledger.summary().uploading).toBe(1);
      expect((await svc.files()).filter((f) => f.endsWith('.part'))).toHaveLength(0);
    });
  });
});
