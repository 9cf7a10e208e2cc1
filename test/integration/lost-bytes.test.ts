/**
 * No acknowledged image lost (issue 18, item 4): a queued image whose spool file is deleted or corrupted dies
 * (its bytes are nowhere), and so does an image evicted by SPOOL_FULL_POLICY=evict-oldest. Such a receipt must
 * never absorb new bytes: the device's resend (with a new Idempotency-Key or none, or through an upload link)
 * stores them again and requeues the image; another device's copy is stored as its own and the receipts that
 * had lost those bytes share it. Every one of them reaches S3 with the exact bytes.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const ADMIN = 'lost-bytes-test-admin-token-0123456789';

async function stateOf(svc: InProcessService, id: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${svc.baseUrl}/images/${id}/status`, { headers: svc.admin })).json()) as Record<string, unknown>;
}

async function imageBytes(svc: InProcessService, id: string): Promise<Buffer> {
  const res = await fetch(`${svc.baseUrl}/images/${id}`, { headers: svc.admin });
  expect(res.status, `GET /images/${id}`).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Waits until every id is in `state` (or any final state, to fail with what it became). */
async function settled(svc: InProcessService, ids: string[], state: string): Promise<void> {
  const states = (): Array<string | undefined> => ids.map((id) => svc.service.ledger.resolve(id)?.blob.state);
  await waitFor(() => (states().every((s) => s === state || s === 'uploaded' || s === 'dead' || s === 'evicted') ? true : undefined), 20_000, `${ids.join(', ')} ${state}`);
  expect(states()).toEqual(ids.map(() => state));
}

/** The S3 object of a receipt (its blob's key) holds exactly `image`. */
async function inS3(s3: TestS3, svc: InProcessService, id: string, image: Buffer): Promise<void> {
  const key = svc.service.ledger.resolve(id)?.blob.s3_key as string;
  expect(sha256Hex(await s3.getBytes(key)), `object of ${id}`).toBe(sha256Hex(image));
}

/**
 * A service whose one upload slot is held by a slow upload (1 KB/s), so images posted now stay queued until
 * `open()` lifts the budget.
 */
async function startHeld(s3: TestS3, env: Record<string, string> = {}): Promise<{ svc: InProcessService; open(): void }> {
  const svc = await startInProcess(s3, { ADMIN_TOKEN: ADMIN, UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', ...env });
  const blocker = await postImage(svc.baseUrl, 'cam-blocker', fakeJpeg(30_000));
  expect(blocker.status).toBe(202);
  await waitFor(() => (svc.service.ledger.get(blocker.body['id'] as string)?.state === 'uploading' ? true : undefined), 10_000, 'blocker uploading');
  return { svc, open: () => svc.service.bandwidth.setOverride('off') };
}

describe('receipts whose bytes were lost', () => {
  it('deleted or corrupted in the spool: a resend stores them again, another device gets its own copy, every receipt reaches S3', async () => {
    const s3 = await startTestS3();
    const { svc, open } = await startHeld(s3);
    try {
      const images = Array.from({ length: 4 }, (_, i) => fakeJpeg(60_000 + i * 1000));
      const [x1, x2, x3, x4] = images as [Buffer, Buffer, Buffer, Buffer];
      const first: string[] = [];
      for (const image of images) {
        const res = await postImage(svc.baseUrl, 'cam-a', image, 'photo.jpg', { 'idempotency-key': `first-${first.length}` });
        expect(res.status).toBe(202);
        first.push(res.body['id'] as string);
      }
      const [id1, id2, id3, id4] = first as [string, string, string, string];
      // Other devices' receipts of the same bytes, taken while they were safe in the spool.
      const dup1 = await postImage(svc.baseUrl, 'cam-b', x1);
      const dup3 = await postImage(svc.baseUrl, 'cam-b', x3);
      expect([dup1.body['duplicate_of'], dup3.body['duplicate_of']]).toEqual([id1, id3]);

      // The disk loses them: x1, x3 and x4 deleted, x2 corrupted in place (same size).
      const file = (id: string): string => path.join(svc.spoolDir, svc.service.ledger.get(id)?.path as string);
      for (const id of [id1, id3, id4]) await unlink(file(id));
      const corrupt = await readFile(file(id2));
      corrupt[1000] = (corrupt[1000] as number) ^ 0xff;
      await writeFile(file(id2), corrupt);
      open();
      await settled(svc, first, 'dead');
      expect(first.map((id) => svc.service.ledger.get(id)?.last_error?.split(':')[0])).toEqual(['spool_file_missing', 'spool_file_corrupt', 'spool_file_missing', 'spool_file_missing']);

      // The device resends: with a new Idempotency-Key, and without one. Its first receipt, stored again and queued.
      const again1 = await postImage(svc.baseUrl, 'cam-a', x1, 'photo.jpg', { 'idempotency-key': 'second-try' });
      expect(again1.status).toBe(202);
      expect(again1.body).toEqual({ id: id1, device_id: 'cam-a', sha256: sha256Hex(x1), bytes: x1.length, content_type: 'image/jpeg', status: 'queued' });
      const again2 = await postImage(svc.baseUrl, 'cam-a', x2);
      expect(again2.status).toBe(202);
      expect(again2.body).toMatchObject({ id: id2, status: 'queued' });
      expect(again2.body['duplicate']).toBeUndefined();
      // Through an upload link for the same device, too.
      const link = (await (await fetch(`${svc.baseUrl}/admin/links`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ expires_in: '1h', max_uploads: 5, device_id: 'cam-a' }) })).json()) as { url: string };
      const form = new FormData();
      form.append('image', new Blob([x4]), 'x4.jpg');
      const viaLink = await fetch(link.url.replace(/^https?:\/\/[^/]+/, svc.baseUrl), { method: 'POST', body: form });
      expect(viaLink.status).toBe(202);
      expect(await viaLink.json()).toMatchObject([{ id: id4, status: 'queued' }]);

      // Another device sends bytes the gateway lost: its own stored copy, not a duplicate of the dead receipt.
      const other = await postImage(svc.baseUrl, 'cam-c', x3);
      expect(other.status).toBe(202);
      expect(other.body).toMatchObject({ device_id: 'cam-c', status: 'queued' });
      expect(other.body['duplicate_of']).toBeUndefined();
      const own3 = other.body['id'] as string;
      // From now on that copy is what dedup points at.
      const later = await postImage(svc.baseUrl, 'cam-d', x3);
      expect(later.body).toMatchObject({ duplicate: true, duplicate_of: own3 });

      await settled(svc, [id1, id2, id4, own3], 'uploaded');
      for (const [id, image] of [[id1, x1], [id2, x2], [id4, x4], [own3, x3]] as Array<[string, Buffer]>) await inS3(s3, svc, id, image);
      // Every receipt of those bytes follows: cam-b's duplicates, and cam-a's receipt of x3, which now shares cam-c's copy.
      for (const [id, image] of [[dup1.body['id'], x1], [dup3.body['id'], x3], [id3, x3], [later.body['id'], x3]] as Array<[string, Buffer]>) {
        expect(await stateOf(svc, id), id).toMatchObject({ state: 'uploaded' });
        expect((await imageBytes(svc, id)).equals(image), id).toBe(true);
      }
      expect(await stateOf(svc, id3)).toMatchObject({ duplicate_of: own3, s3_key: svc.service.ledger.get(own3)?.s3_key });
      // Once uploaded, a resend is a resend again (200), and nothing is left in the spool.
      expect(await postImage(svc.baseUrl, 'cam-a', x1)).toMatchObject({ status: 200, body: { id: id1, duplicate: true, status: 'uploaded' } });
      await waitFor(async () => ((await svc.files()).length === 0 ? true : undefined), 5000, 'spool empty');
      expect(svc.service.ledger.summary()).toMatchObject({ dead: 0, queued: 0, uploading: 0 });
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 60_000);

  it('evicted by SPOOL_FULL_POLICY=evict-oldest: the device\'s resend stores it again and it reaches S3', async () => {
    const s3 = await startTestS3();
    const { svc, open } = await startHeld(s3, { SPOOL_FULL_POLICY: 'evict-oldest', SPOOL_MAX_BYTES: '300000' });
    try {
      const [e1, e2, e3] = [fakeJpeg(120_000), fakeJpeg(120_000), fakeJpeg(120_000)];
      const ids: string[] = [];
      for (const image of [e1, e2, e3]) ids.push((await postImage(svc.baseUrl, 'cam-e', image)).body['id'] as string);
      const [id1, id2, id3] = ids as [string, string, string];
      expect(svc.service.ledger.get(id1)?.state).toBe('evicted'); // the oldest queued one, to admit e3
      expect((await fetch(`${svc.baseUrl}/images/${id1}`, { headers: svc.admin })).status).toBe(410);
      open();
      await settled(svc, [id2, id3], 'uploaded');

      const again = await postImage(svc.baseUrl, 'cam-e', e1);
      expect(again.status).toBe(202);
      expect(again.body).toMatchObject({ id: id1, status: 'queued' });
      await settled(svc, [id1], 'uploaded');
      await inS3(s3, svc, id1, e1);
      expect((await imageBytes(svc, id1)).equals(e1)).toBe(true);
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 60_000);
});
