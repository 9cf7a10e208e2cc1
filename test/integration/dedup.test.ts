/**
 * Cross-device dedup: identical bytes (same SHA-256) from any device are stored and uploaded once. Every
 * receipt keeps its own id, pointing at the one stored blob (`duplicate_of`); reads, status and webhooks
 * follow the pointer; stats count receipts and unique images apart.
 */
import { ListObjectsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { NotificationBody } from '../../src/notify/payload.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { startWebhookReceiver } from '../helpers/webhook-receiver.js';

const ADMIN = 'dedup-test-admin-token-0123456789abcdef';
const admin = (svc: InProcessService, path: string, init: RequestInit = {}): Promise<Response> =>
  fetch(`${svc.baseUrl}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

/** Every object in the bucket whose bytes equal `image`. */
async function objectsHolding(s3: TestS3, image: Buffer): Promise<string[]> {
  const listed = await s3.client.send(new ListObjectsCommand({ Bucket: s3.bucket }));
  const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
  const matches: string[] = [];
  for (const key of keys) if ((await s3.getBytes(key)).equals(image)) matches.push(key);
  return matches;
}

describe('cross-device dedup', () => {
  it('stores and uploads identical bytes once; each device gets its own receipt pointing at the original', async () => {
    const s3 = await startTestS3();
    const receiver = await startWebhookReceiver();
    // Slow uploads, so the duplicates arrive while the original is still queued (and after, below).
    const svc = await startInProcess(s3, { ADMIN_TOKEN: ADMIN, UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', NOTIFY_URL: receiver.url, NOTIFY_SECRET: 'dedup-notify-secret-0123456789' });
    try {
      const image = fakeJpeg(120_000);
      const a = await postImage(svc.baseUrl, 'cam-a', image);
      expect(a.status).toBe(202);
      const originalId = a.body['id'] as string;
      const b = await postImage(svc.baseUrl, 'cam-b', image);
      expect(b.status).toBe(202);
      expect(b.body).toMatchObject({ device_id: 'cam-b', sha256: sha256Hex(image), bytes: image.length, content_type: 'image/jpeg', duplicate: true, duplicate_of: originalId });
      expect(b.body['id']).not.toBe(originalId);
      // JSON uploads follow the same rule.
      const c = await fetch(`${svc.baseUrl}/image`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ device_id: 'cam-c', image: image.toString('base64') }) });
      expect(c.status).toBe(202);
      const cBody = (await c.json()) as Record<string, unknown>;
      expect(cBody).toMatchObject({ device_id: 'cam-c', duplicate: true, duplicate_of: originalId });
      expect([b.body['status'], cBody['status']]).not.toContain('uploaded');
      expect((await admin(svc, '/admin/bwlimit', { method: 'PUT', body: JSON.stringify({ rate: '50MB' }) })).status).toBe(200);

      await waitFor(() => (svc.service.ledger.get(originalId)?.state === 'uploaded' ? true : undefined), 15_000, 'upload of the original');
      // Once uploaded, a fourth device's copy is still a duplicate (the bytes are in S3).
      const d = await postImage(svc.baseUrl, 'cam-d', image);
      expect(d.body).toMatchObject({ duplicate: true, duplicate_of: originalId, status: 'uploaded' });
      const dupIds = [b.body['id'], cBody['id'], d.body['id']] as string[];

      // One object in S3 with these bytes, under the first device's key; no file left in the spool.
      const original = svc.service.ledger.get(originalId);
      expect(await objectsHolding(s3, image)).toEqual([original?.s3_key]);
      await waitFor(async () => ((await svc.files()).length === 0 ? true : undefined), 5000, 'local copy deleted');

      // Each receipt: its own row, device and status, following the original's state and object.
      for (const [i, id] of dupIds.entries()) {
        expect(svc.service.ledger.get(id)).toMatchObject({ state: 'duplicate', duplicate_of: originalId, device_id: ['cam-b', 'cam-c', 'cam-d'][i], path: null, s3_key: null });
        const status = (await (await fetch(`${svc.baseUrl}/images/${id}/status`, { headers: svc.admin })).json()) as Record<string, unknown>;
        expect(status).toMatchObject({ id, device_id: ['cam-b', 'cam-c', 'cam-d'][i], state: 'uploaded', duplicate_of: originalId, s3_key: original?.s3_key, sha256: sha256Hex(image) });
        const bytes = await fetch(`${svc.baseUrl}/images/${id}`, { headers: svc.admin });
        expect(bytes.headers.get('etag')).toBe(`"${sha256Hex(image)}"`);
        expect(Buffer.from(await bytes.arrayBuffer()).equals(image)).toBe(true);
      }
      expect(((await (await fetch(`${svc.baseUrl}/images/${originalId}/status`, { headers: svc.admin })).json()) as Record<string, unknown>)['duplicate_of']).toBeNull();

      // A resend by cam-b is a resend, not a fifth receipt: its first receipt, 200.
      const again = await postImage(svc.baseUrl, 'cam-b', image);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: b.body['id'], duplicate: true, duplicate_of: originalId, status: 'uploaded' });

      const stats = (await (await admin(svc, '/admin/stats')).json()) as Record<string, unknown>;
      expect(stats).toMatchObject({ receipts: 4, unique_images: 1, duplicates: 3, uploaded: { images: 1, bytes: image.length } });
      const metrics = await (await fetch(`${svc.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/^image_spool_images\{state="duplicate"\} 3$/m);
      expect(metrics).toMatch(new RegExp(`^image_spool_images_bytes\\{state="duplicate"\\} ${3 * image.length}$`, 'm'));

      // The webhook tells each receipt's device once: the original, the two duplicates that waited for the
      // upload, and cam-d's, which arrived after it (its outcome was known at once). Not the resend.
      const bodies = await waitFor(() => (receiver.requests.length >= 4 ? receiver.requests.map((r) => JSON.parse(r.raw.toString('utf8')) as NotificationBody) : undefined), 10_000, 'four notifications');
      const expected = [[originalId, 'cam-a', null], [dupIds[0], 'cam-b', originalId], [dupIds[1], 'cam-c', originalId], [dupIds[2], 'cam-d', originalId]];
      expect(bodies.map((n) => [n.image.id, n.image.device_id, n.image.duplicate_of]).sort()).toEqual(expected.sort());
      for (const n of bodies) expect(n).toMatchObject({ event: 'uploaded', image: { state: 'uploaded', s3_key: original?.s3_key, sha256: sha256Hex(image) } });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(receiver.requests).toHaveLength(4);
    } finally {
      await svc.close();
      await receiver.close();
      await s3.close();
    }
  }, 30_000);

  it('a burst of the same bytes from many devices at once: one file, one object, one original and the rest duplicates', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const image = fakeJpeg(200_000);
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => postImage(svc.baseUrl, `burst-${i}`, image)));
      expect(results.map((r) => r.status)).toEqual(results.map(() => 202));
      const ids = results.map((r) => r.body['id'] as string);
      expect(new Set(ids).size).toBe(12);
      const rows = ids.map((id) => svc.service.ledger.get(id));
      const originals = rows.filter((r) => r?.duplicate_of === null);
      expect(originals).toHaveLength(1);
      const originalId = originals[0]?.id;
      expect(rows.filter((r) => r?.duplicate_of === originalId)).toHaveLength(11);
      for (const r of results) if (r.body['id'] !== originalId) expect(r.body).toMatchObject({ duplicate: true, duplicate_of: originalId });
      await waitFor(() => (svc.service.ledger.get(originalId ?? '')?.state === 'uploaded' ? true : undefined), 15_000, 'upload');
      expect(await objectsHolding(s3, image)).toHaveLength(1);
      await waitFor(async () => ((await svc.files()).length === 0 ? true : undefined), 5000, 'spool empty: no stray file from the losers of the race');
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 30_000);

  it('through an upload link too: a duplicate is a new receipt (202, counted against max_uploads)', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { ADMIN_TOKEN: ADMIN, UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const image = fakeJpeg(50_000);
      const first = await postImage(svc.baseUrl, 'cam-a', image);
      const link = (await (await admin(svc, '/admin/links', { method: 'POST', body: JSON.stringify({ expires_in: '1h', max_uploads: 1, device_id: 'visitor' }) })).json()) as { url: string };
      const form = new FormData();
      form.append('image', new Blob([image], { type: 'image/jpeg' }), 'x.jpg');
      const res = await fetch(link.url.replace(/^https?:\/\/[^/]+/, svc.baseUrl), { method: 'POST', body: form });
      expect(res.status).toBe(202);
      const receipts = (await res.json()) as Array<Record<string, unknown>>;
      expect(receipts).toMatchObject([{ device_id: 'visitor', duplicate: true, duplicate_of: first.body['id'] }]);
      expect(svc.service.ledger.get(receipts[0]?.['id'] as string)).toMatchObject({ state: 'duplicate', device_id: 'visitor' });
      // The link's one upload is used: the next request is refused.
      const second = new FormData();
      second.append('image', new Blob([fakeJpeg(51_000)], { type: 'image/jpeg' }), 'y.jpg');
      expect((await fetch(link.url.replace(/^https?:\/\/[^/]+/, svc.baseUrl), { method: 'POST', body: second })).status).toBe(410);
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 30_000);
});
