/**
 * A systemic failure (here: the bucket does not exist) pauses the whole uploader instead of spending every
 * image's attempts; /healthz stays 200 while /readyz says why; a probe resumes uploads once S3 is usable.
 * Operators requeue dead images through the admin API.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const TOKEN = 'systemic-pause-test-token-0123456789abcdef';

describe('systemic S3 failure: pause, readiness, resume, requeue', () => {
  let s3: TestS3;
  let svc: InProcessService;
  beforeAll(async () => {
    s3 = await startTestS3();
    svc = await startInProcess(s3, { S3_BUCKET: 'created-later', ADMIN_TOKEN: TOKEN, UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
  });
  afterAll(async () => {
    await svc?.close();
    await s3?.close();
  });

  const admin = (method: string, route: string, body?: unknown) => fetch(`${svc.baseUrl}${route}`, {
    method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });

  it('pauses on NoSuchBucket without spending attempts, reports it in /readyz, and resumes when the bucket appears', async () => {
    const images = Array.from({ length: 6 }, () => fakeJpeg(50_000));
    const ids: string[] = [];
    for (const image of images) {
      const res = await postImage(svc.baseUrl, 'cam-1', image);
      expect(res.status).toBe(202); // ingest goes on while uploads are paused
      ids.push(res.body['id'] as string);
    }
    const paused = await waitFor(() => svc.service.uploader.paused ?? undefined, 10_000, 'uploader pause');
    expect(paused.reason).toMatch(/NoSuchBucket/);
    expect((await fetch(`${svc.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${svc.baseUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not_ready', checks: { ledger: { ok: true }, spool: { ok: true }, uploader: { ok: false, message: expect.stringMatching(/paused: .*NoSuchBucket/) } } });
    // Several probe intervals later, no image has spent an attempt or died.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const id of ids) expect(svc.service.ledger.get(id)).toMatchObject({ state: 'queued', attempts: 0 });

    // An operator marks one dead meanwhile (as a permanent failure would) and requeues every dead image.
    svc.service.ledger.markDead(ids[0] as string, 'queued', 'InvalidDigest (HTTP 400): test');
    const requeued = await admin('POST', '/admin/requeue', { state: 'dead' });
    expect(requeued.status).toBe(200);
    expect(await requeued.json()).toEqual({ requeued: [ids[0]], skipped: [] });
    const unknown = await (await admin('POST', '/admin/requeue', { ids: ['nope', ids[1]] })).json();
    expect(unknown).toEqual({ requeued: [], skipped: [{ id: 'nope', reason: 'no such image' }, { id: ids[1], reason: 'state is queued, not dead' }] });
    expect((await admin('POST', '/admin/requeue', { ids: [] })).status).toBe(400);
    expect((await fetch(`${svc.baseUrl}/admin/requeue`, { method: 'POST', body: '{}' })).status).toBe(401);

    await s3.client.send(new CreateBucketCommand({ Bucket: 'created-later' }));
    await waitFor(() => (svc.service.uploader.paused === null ? true : undefined), 15_000, 'resume');
    await waitFor(() => (ids.every((id) => svc.service.ledger.get(id)?.state === 'uploaded') ? true : undefined), 15_000, 'all uploaded');
    for (const id of ids) expect(svc.service.ledger.get(id)?.attempts).toBe(1);
    expect((await fetch(`${svc.baseUrl}/readyz`)).status).toBe(200);
    // The bytes in the bucket are the bytes sent.
    const { ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: 'created-later' }));
    expect(listed.Contents).toHaveLength(6);
    const sums = await Promise.all((listed.Contents ?? []).map(async (o) => {
      const got = await s3.client.send(new GetObjectCommand({ Bucket: 'created-later', Key: o.Key }));
      return sha256Hex(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()));
    }));
    expect(sums.sort()).toEqual(images.map(sha256Hex).sort());
  }, 60_000);
});
