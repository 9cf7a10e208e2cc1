import net from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { useInProcessService, waitFor, type InProcessService } from '../helpers/in-process.js';
import type { TestS3 } from '../helpers/s3.js';

const MAX = 300_000;

describe('POST /image -> ledger -> S3', () => {
  const ctx = useInProcessService({ MAX_IMAGE_BYTES: String(MAX), UPLOAD_BWLIMIT: '20MB', S3_PREFIX: 'site-a' });
  let s3: TestS3;
  let svc: InProcessService;
  beforeAll(() => {
    ({ s3, svc } = ctx);
  });

  const blobOf = (id: string) => svc.service.ledger.resolve(id)?.blob;
  const uploaded = (id: string) => waitFor(() => (blobOf(id)?.state === 'uploaded' ? blobOf(id) : undefined), 15_000, `upload of ${id}`);

  it('acknowledges with 202 after the commit and lands the same bytes in S3 under the fixed key', async () => {
    const image = fakeJpeg(150_000);
    const res = await fetch(`${svc.baseUrl}/image`, { method: 'POST', body: form('cam-7', image) });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; sha256: string; bytes: number; status: string; device_id: string };
    expect(res.headers.get('location')).toBe(`/images/${body.id}`);
    expect(body).toMatchObject({ device_id: 'cam-7', sha256: sha256Hex(image), bytes: image.length, status: 'queued' });

    const row = await uploaded(body.id);
    const day = new Date(row.received_at).toISOString().slice(0, 10).replaceAll('-', '/');
    expect(row.s3_key).toBe(`site-a/cam-7/${day}/${body.id}.jpg`);
    expect((await s3.getBytes(row.s3_key)).equals(image)).toBe(true);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: row.s3_key }));
    expect(head.Metadata?.['sha256']).toBe(sha256Hex(image));
    expect(head.ContentType).toBe('image/jpeg');
    // The local copy is deleted once the ledger says uploaded.
    await waitFor(async () => ((await svc.files()).length === 0 ? true : undefined), 5000, 'local file removal');

    const status = await (await fetch(`${svc.baseUrl}/images/${body.id}/status`, { headers: svc.admin })).json();
    expect(status).toMatchObject({ id: body.id, state: 'uploaded', s3_key: row.s3_key, attempts: 1, last_error: null });
  });

  it('keeps every image of a concurrent burst, each once, with its own bytes', async () => {
    const images = Array.from({ length: 24 }, (_, i) => fakeJpeg(20_000 + i * 7_000));
    const results = await Promise.all(images.map((img, i) => postImage(svc.baseUrl, `burst-${i % 5}`, img)));
    expect(results.map((r) => r.status)).toEqual(images.map(() => 202));
    for (const [i, r] of results.entries()) {
      const row = await uploaded(r.body['id'] as string);
      expect((await s3.getBytes(row.s3_key)).equals(images[i] as Buffer)).toBe(true);
    }
    const keys = (await s3.listAll()).map((o) => o.Key ?? '');
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.filter((k) => k.includes('/burst-')).length).toBe(24);
  });

  it('accepts an image sent as a plain field value through the same checks', async () => {
    const image = fakeJpeg(5_000);
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ncam-field\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"\r\n\r\n`), image,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await fetch(`${svc.baseUrl}/image`, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(res.status).toBe(202);
    const { id, sha256 } = (await res.json()) as { id: string; sha256: string };
    expect(sha256).toBe(sha256Hex(image));
    expect((await s3.getBytes((await uploaded(id)).s3_key)).equals(image)).toBe(true);
  });

  describe('bad input gets a JSON error and leaves no file and no row', () => {
    const cases: Array<[string, () => Promise<Response>, number, string]> = [
      ['missing device_id', () => send(formWithout('device_id')), 400, 'missing_device_id'],
      ['invalid device_id', () => send(form('bad id!', fakeJpeg(1000))), 400, 'invalid_device_id'],
      ['device_id too long', () => send(form('x'.repeat(65), fakeJpeg(1000))), 400, 'invalid_device_id'],
      ['missing image', () => send(formWithout('image')), 400, 'missing_image'],
      ['empty image', () => send(form('cam', Buffer.alloc(0))), 400, 'missing_image'],
      ['two images', () => send(twoImages()), 400, 'too_many_images'],
      ['not an image', () => send(form('cam', Buffer.from('%PDF-1.7 definitely a document'))), 415, 'not_an_image'],
      ['plain text field image', () => send(form('cam', 'hello')), 415, 'not_an_image'],
      ['wrong content type', () => fetch(base() + '/image', { method: 'POST', body: 'device_id=x', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type'],
      ['JSON body without an image', () => fetch(base() + '/image', { method: 'POST', body: JSON.stringify({ device_id: 'x' }), headers: { 'content-type': 'application/json' } }), 400, 'missing_image'],
      ['too large by Content-Length', () => send(form('cam', fakeJpeg(MAX + 100_000))), 413, 'image_too_large'],
      ['too large while streaming', () => send(form('cam', fakeJpeg(MAX + 1))), 413, 'image_too_large'],
      ['malformed multipart', () => fetch(base() + '/image', { method: 'POST', body: 'garbage', headers: { 'content-type': 'multipart/form-data; boundary=zzz' } }), 400, 'invalid_request'],
    ];
    let base: () => string;
    let send: (body: FormData) => Promise<Response>;

    beforeAll(() => {
      base = () => svc.baseUrl;
      send = (body) => fetch(`${svc.baseUrl}/image`, { method: 'POST', body });
    });

    it.each(cases)('%s', async (_name, request, status, code) => {
      const before = svc.service.ledger.summary();
      const res = await request();
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe(code);
      expect(body.error.message.length).toBeGreaterThan(5);
      const after = svc.service.ledger.summary();
      expect(after.queued + after.uploading + after.uploaded + after.dead).toBe(before.queued + before.uploading + before.uploaded + before.dead);
      // Let the uploader finish earlier images; then nothing at all may remain on disk.
      await waitFor(async () => ((await svc.files()).length === 0 ? true : undefined), 10_000, 'an empty spool');
    });
  });

  it('cleans up after a device that disconnects mid-upload: no file, no row', async () => {
    const before = svc.service.ledger.summary();
    const boundary = 'cut';
    const socket = net.connect(Number(new URL(svc.baseUrl).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ncam-cut\r\n--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n`;
    socket.write(`POST /image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 200000\r\n\r\n${head}`);
    socket.write(fakeJpeg(50_000));
    await waitFor(async () => ((await svc.files()).some((f) => f.endsWith('.part')) ? true : undefined), 5000, 'a .part file');
    socket.destroy();
    await waitFor(async () => ((await svc.files()).length === 0 ? true : undefined), 5000, 'the .part file to be removed');
    const after = svc.service.ledger.summary();
    expect(after.queued + after.uploading + after.uploaded).toBe(before.queued + before.uploading + before.uploaded);
  });

  it('answers health, unknown ids and unknown routes with JSON', async () => {
    expect((await fetch(`${svc.baseUrl}/healthz`)).status).toBe(200);
    const missing = await fetch(`${svc.baseUrl}/images/NOPE/status`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const route = await fetch(`${svc.baseUrl}/nowhere`);
    expect(route.status).toBe(404);
    expect(((await route.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});

function form(deviceId: string, image: Buffer | string): FormData {
  const f = new FormData();
  f.append('device_id', deviceId);
  if (typeof image === 'string') f.append('image', image);
  else f.append('image', new Blob([image]), 'photo.jpg');
  return f;
}

function formWithout(part: 'device_id' | 'image'): FormData {
  const f = new FormData();
  if (part !== 'device_id') f.append('device_id', 'cam');
  if (part !== 'image') f.append('image', new Blob([fakeJpeg(2000)]), 'photo.jpg');
  return f;
}

function twoImages(): FormData {
  const f = form('cam', fakeJpeg(2000));
  f.append('image', new Blob([fakeJpeg(2000)]), 'second.jpg');
  return f;
}
