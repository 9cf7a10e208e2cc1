/**
 * GET /images/{id} (with the admin token: the bytes need a credential): the bytes with Content-Type, ETag
 * (SHA-256) and Content-Length, from the spool while the file is there and streamed from S3 once it was
 * uploaded and deleted locally; If-None-Match, Range and If-Range; `X-Content-Type-Options: nosniff`.
 */
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

async function checkRetrieval(svc: InProcessService, id: string, image: Buffer): Promise<void> {
  const baseUrl = svc.baseUrl;
  const admin = svc.admin;
  const full = await fetch(`${baseUrl}/images/${id}`, { headers: admin });
  expect(full.status).toBe(200);
  expect(full.headers.get('content-type')).toBe('image/jpeg');
  expect(full.headers.get('etag')).toBe(`"${sha256Hex(image)}"`);
  expect(full.headers.get('content-length')).toBe(String(image.length));
  expect(full.headers.get('x-content-type-options')).toBe('nosniff');
  expect(Buffer.from(await full.arrayBuffer()).equals(image)).toBe(true);

  const notModified = await fetch(`${baseUrl}/images/${id}`, { headers: { ...admin, 'If-None-Match': `"${sha256Hex(image)}"` } });
  expect(notModified.status).toBe(304);
  expect((await notModified.arrayBuffer()).byteLength).toBe(0);

  const part = await fetch(`${baseUrl}/images/${id}`, { headers: { ...admin, Range: 'bytes=100-1099' } });
  expect(part.status).toBe(206);
  expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${image.length}`);
  expect(part.headers.get('x-content-type-options')).toBe('nosniff');
  expect(Buffer.from(await part.arrayBuffer()).equals(image.subarray(100, 1100))).toBe(true);

  // If-Range (RFC 9110 13.1.5): the range only while the client's copy is this one (strong ETag match);
  // otherwise the whole image with 200, so a client never splices bytes of two different images.
  const etag = `"${sha256Hex(image)}"`;
  const stillSame = await fetch(`${baseUrl}/images/${id}`, { headers: { ...admin, Range: 'bytes=100-1099', 'If-Range': etag } });
  expect(stillSame.status).toBe(206);
  expect(Buffer.from(await stillSame.arrayBuffer()).equals(image.subarray(100, 1100))).toBe(true);
  for (const ifRange of [`"${sha256Hex(Buffer.from('other bytes'))}"`, `W/${etag}`, 'Wed, 21 Oct 2015 07:28:00 GMT']) {
    const changed = await fetch(`${baseUrl}/images/${id}`, { headers: { ...admin, Range: 'bytes=100-1099', 'If-Range': ifRange } });
    expect(changed.status, `If-Range: ${ifRange}`).toBe(200);
    expect(changed.headers.get('content-range')).toBeNull();
    expect(changed.headers.get('content-length')).toBe(String(image.length));
    expect(Buffer.from(await changed.arrayBuffer()).equals(image), `If-Range: ${ifRange}`).toBe(true);
  }

  const tail = await fetch(`${baseUrl}/images/${id}`, { headers: { ...admin, Range: 'bytes=-500' } });
  expect(tail.status).toBe(206);
  expect(Buffer.from(await tail.arrayBuffer()).equals(image.subarray(image.length - 500))).toBe(true);

  const beyond = await fetch(`${baseUrl}/images/${id}`, { headers: { ...admin, Range: `bytes=${image.length}-` } });
  expect(beyond.status).toBe(416);
  expect(beyond.headers.get('content-range')).toBe(`bytes */${image.length}`);
  expect(await beyond.json()).toMatchObject({ error: { code: 'range_not_satisfiable' } });
}

describe('GET /images/{id}', () => {
  it('serves the local spool copy before upload, and S3 after the local copy is gone', async () => {
    const s3 = await startTestS3();
    const slow = await startInProcess(s3, { UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
    const fast = await startInProcess(s3, { UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0', S3_PREFIX: 'fast' });
    try {
      const image = fakeJpeg(300_000);
      const local = await postImage(slow.baseUrl, 'cam-1', image);
      await checkRetrieval(slow, local.body['id'] as string, image);

      const uploaded = await postImage(fast.baseUrl, 'cam-1', image);
      const id = uploaded.body['id'] as string;
      await waitFor(() => (fast.service.ledger.get(id)?.state === 'uploaded' ? true : undefined), 15_000, 'upload');
      await waitFor(async () => ((await fast.files()).length === 0 ? true : undefined), 5000, 'local copy deleted');
      await checkRetrieval(fast, id, image);

      const unknown = await fetch(`${fast.baseUrl}/images/01NOSUCHIMAGE0000000000000`, { headers: fast.admin });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: 'not_found' } });
    } finally {
      await slow.close();
      await fast.close();
      await s3.close();
    }
  }, 30_000);
});
