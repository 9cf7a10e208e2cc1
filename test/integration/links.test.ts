/**
 * Expirable upload links: an operator creates one (admin token), a device or person without a standing
 * credential POSTs one or many images to it, each image gets the receipt POST /image would give, and the
 * link ends with 410 when it expires, is used up or is revoked. The secret is random, stored only as its
 * hash, and never written to a log.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFile, readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { multipartBody, parseFirstResponse, requestHead, startObservedService, type ObservedService, type Part } from '../helpers/raw-http.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const MAX = 200_000;
const BOUNDARY = 'link-test-boundary';

interface Created { url: string; token_id: string; expires_at: string; max_uploads: number | null; device_id: string | null }
interface Receipt { id: string; device_id: string; sha256: string; bytes: number; content_type: string; status: string; duplicate?: true }
interface ErrorBody { error: { code: string; message: string } }

describe('upload links', () => {
  let s3: TestS3;
  let svc: ObservedService;
  /** Every secret handed out in this file: none may ever appear in a log line or the ledger. */
  const secrets: string[] = [];

  beforeAll(async () => {
    s3 = await startTestS3();
    // KEEP_UPLOADED_FILES: every stored image keeps its file, so "no file without a row" can be counted exactly.
    svc = await startObservedService(s3, { MAX_IMAGE_BYTES: String(MAX), UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0', KEEP_UPLOADED_FILES: 'true' });
  });
  afterAll(async () => {
    await svc?.close();
    await s3?.close();
  });

  const admin = (method: string, route: string, body?: unknown, token: string | null = svc.adminToken) => fetch(`${svc.baseUrl}${route}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

  async function createLink(body: Record<string, unknown>): Promise<Created> {
    const res = await admin('POST', '/admin/links', body);
    expect(res.status).toBe(201);
    const created = (await res.json()) as Created;
    secrets.push(secretOf(created.url));
    return created;
  }

  async function upload(url: string, images: Array<Buffer | string>, options: { deviceId?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: unknown }> {
    const form = new FormData();
    if (options.deviceId !== undefined) form.append('device_id', options.deviceId);
    for (const [i, image] of images.entries()) {
      if (typeof image === 'string') form.append('image', image);
      else form.append('image', new Blob([image]), `p${i}.jpg`);
    }
    const res = await fetch(url, { method: 'POST', body: form, headers: options.headers ?? {} });
    return { status: res.status, body: await res.json() };
  }

  const linkRow = (tokenId: string) => readLedger((db) => db.prepare('SELECT * FROM upload_links WHERE token_id = ?').get(tokenId) as Record<string, unknown>);
  function readLedger<T>(read: (db: Database.Database) => T): T {
    const db = new Database(path.join(svc.spoolDir, 'ledger.db'), { readonly: true, fileMustExist: true });
    try {
      return read(db);
    } finally {
      db.close();
    }
  }
  /** Nothing half-done is left: no .part file, and exactly one image file per ledger row. */
  async function expectSpoolConsistent(): Promise<void> {
    const files = await svc.files();
    expect(files.filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(files.length).toBe(svc.rows().length);
  }

  it('creating, listing and revoking links needs the admin token (401 without)', async () => {
    expect((await admin('POST', '/admin/links', { expires_in: '1h' }, null)).status).toBe(401);
    expect((await admin('POST', '/admin/links', { expires_in: '1h' }, 'wrong-token')).status).toBe(401);
    expect((await admin('GET', '/admin/links', undefined, null)).status).toBe(401);
    expect((await admin('DELETE', '/admin/links/0123456789ab', undefined, null)).status).toBe(401);
    expect(readLedger((db) => db.prepare('SELECT count(*) AS n FROM upload_links').get())).toEqual({ n: 0 });
  });

  it.each([
    [{}, 'invalid_request', /expires_in/],
    [{ expires_in: '48x' }, 'invalid_request', /expires_in/],
    [{ expires_in: 0 }, 'invalid_request', /expires_in/],
    [{ expires_in: -5 }, 'invalid_request', /expires_in/],
    [{ expires_in: 1.5 }, 'invalid_request', /expires_in/],
    [{ expires_in: '31d' }, 'invalid_request', /30 days/],
    [{ expires_in: '1h', max_uploads: 0 }, 'invalid_request', /max_uploads/],
    [{ expires_in: '1h', max_uploads: 10_001 }, 'invalid_request', /max_uploads/],
    [{ expires_in: '1h', max_uploads: '3' }, 'invalid_request', /max_uploads/],
    [{ expires_in: '1h', device_id: 'bad id!' }, 'invalid_device_id', /device_id/],
    [{ expires_in: '1h', device_id: '..' }, 'invalid_device_id', /device_id/],
    [{ expires_in: '1h', max_upload: 1 }, 'invalid_request', /unknown field "max_upload"/],
    ['not an object', 'invalid_request', /JSON object/],
  ])('refuses a bad link request %j with 400 naming the field', async (body, code, message) => {
    const res = await admin('POST', '/admin/links', body);
    expect(res.status).toBe(400);
    const err = (await res.json()) as ErrorBody;
    expect(err.error.code).toBe(code);
    expect(err.error.message).toMatch(message);
  });

  it('creates a link: absolute URL with a 256-bit secret, a short public token_id, the expiry', async () => {
    const before = Date.now();
    const link = await createLink({ expires_in: '48h', max_uploads: 5, device_id: 'kiosk-1' });
    expect(link.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${svc.port}/u/[A-Za-z0-9_-]{43}$`));
    expect(Buffer.from(secretOf(link.url), 'base64url')).toHaveLength(32);
    expect(link.token_id).toMatch(/^[0-9a-f]{12}$/);
    expect(link).toMatchObject({ max_uploads: 5, device_id: 'kiosk-1' });
    const expires = Date.parse(link.expires_at);
    expect(expires - before).toBeGreaterThanOrEqual(48 * 3600_000 - 1000);
    expect(expires - Date.now()).toBeLessThanOrEqual(48 * 3600_000 + 1000);
    // Seconds as a number, and units, are both accepted.
    const other = await createLink({ expires_in: 90 });
    expect(Date.parse(other.expires_at) - Date.now()).toBeLessThanOrEqual(90_000);
    expect(other.url).not.toBe(link.url);
  });

  it('takes two images in one request: two receipts, two rows with the link\'s device, durable files', async () => {
    const link = await createLink({ expires_in: '1h', device_id: 'kiosk-2' });
    const images = [fakeJpeg(30_000), fakeJpeg(40_000)];
    const res = await upload(link.url, images);
    expect(res.status).toBe(202);
    const receipts = res.body as Receipt[];
    expect(receipts).toHaveLength(2);
    for (const [i, r] of receipts.entries()) {
      expect(r).toMatchObject({ device_id: 'kiosk-2', sha256: sha256Hex(images[i] as Buffer), bytes: (images[i] as Buffer).length, content_type: 'image/jpeg', status: 'queued' });
      expect(r.duplicate).toBeUndefined();
      const row = svc.rows().find((x) => x.id === r.id);
      expect(row).toMatchObject({ device_id: 'kiosk-2', sha256: r.sha256, bytes: r.bytes });
      expect(row?.s3_key).toMatch(new RegExp(`^kiosk-2/\\d{4}/\\d{2}/\\d{2}/${r.id}\\.jpg$`));
      // The file under its final name holds exactly the bytes sent.
      expect(sha256Hex(await readFile(path.join(svc.spoolDir, row?.path ?? '')))).toBe(r.sha256);
    }
    expect(receipts[0]?.id).not.toBe(receipts[1]?.id);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 2 });
    expect(readLedger((db) => db.prepare('SELECT image_id FROM upload_link_images WHERE token_id = ? ORDER BY image_id').all(link.token_id)))
      .toEqual(receipts.map((r) => ({ image_id: r.id })).sort((a, b) => a.image_id.localeCompare(b.image_id)));
    // Like any stored image: metadata is extracted, and the images go on to S3.
    await waitUntil(() => receipts.every((r) => svc.service.ledger.get(r.id)?.metadata_at != null));
    await waitUntil(() => receipts.every((r) => svc.service.ledger.get(r.id)?.state === 'uploaded'));
    for (const [i, r] of receipts.entries()) expect((await s3.getBytes(svc.service.ledger.get(r.id)?.s3_key ?? '')).equals(images[i] as Buffer)).toBe(true);
    await expectSpoolConsistent();
  });

  it('a link that fixes the device: the same device_id is accepted, another one is refused (400, nothing stored)', async () => {
    const link = await createLink({ expires_in: '1h', device_id: 'kiosk-3' });
    const same = await upload(link.url, [fakeJpeg(5_000)], { deviceId: 'kiosk-3' });
    expect(same.status).toBe(202);
    const rowsBefore = svc.rows().length;
    const other = await upload(link.url, [fakeJpeg(5_000), fakeJpeg(5_000)], { deviceId: 'someone-else' });
    expect(other.status).toBe(400);
    expect((other.body as ErrorBody).error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/kiosk-3/) });
    expect(svc.rows().length).toBe(rowsBefore);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 1 });
    await expectSpoolConsistent();
  });

  it('a link without a device: the form names it as on POST /image (missing or invalid: 400)', async () => {
    const link = await createLink({ expires_in: '1h' });
    expect(await upload(link.url, [fakeJpeg(5_000)])).toMatchObject({ status: 400, body: { error: { code: 'missing_device_id' } } });
    expect(await upload(link.url, [fakeJpeg(5_000)], { deviceId: 'bad id!' })).toMatchObject({ status: 400, body: { error: { code: 'invalid_device_id' } } });
    expect(await upload(link.url, [], { deviceId: 'cam-x' })).toMatchObject({ status: 400, body: { error: { code: 'missing_image' } } });
    const ok = await upload(link.url, [fakeJpeg(5_000), fakeJpeg(6_000), fakeJpeg(7_000)], { deviceId: 'cam-x' });
    expect(ok.status).toBe(202);
    expect((ok.body as Receipt[]).map((r) => r.device_id)).toEqual(['cam-x', 'cam-x', 'cam-x']);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 3 });
    await expectSpoolConsistent();
  });

  it('a bad part refuses the whole request: no file and no row for the good parts either', async () => {
    const link = await createLink({ expires_in: '1h', device_id: 'kiosk-4' });
    const rowsBefore = svc.rows().length;
    const notImage = await upload(link.url, [fakeJpeg(20_000), Buffer.from('%PDF-1.7 not an image at all')]);
    expect(notImage).toMatchObject({ status: 415, body: { error: { code: 'not_an_image' } } });
    const tooBig = await upload(link.url, [fakeJpeg(20_000), fakeJpeg(MAX + 1)]);
    expect(tooBig).toMatchObject({ status: 413, body: { error: { code: 'image_too_large' } } });
    const tooMany = await upload(link.url, Array.from({ length: 101 }, () => fakeJpeg(200)));
    expect(tooMany).toMatchObject({ status: 400, body: { error: { code: 'too_many_images' } } });
    const keyed = await upload(link.url, [fakeJpeg(2_000)], { headers: { 'Idempotency-Key': 'k-1' } });
    expect(keyed).toMatchObject({ status: 400, body: { error: { code: 'invalid_idempotency_key' } } });
    expect(svc.rows().length).toBe(rowsBefore);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 0 });
    await expectSpoolConsistent();
  });

  it('issue 18: fields in a charset busboy cannot decode, too many fields, and curl\'s ";;" are each that request\'s answer', async () => {
    const link = await createLink({ expires_in: '1h' });
    const rowsBefore = svc.rows().length;
    const send = async (parts: Part[], contentType = `multipart/form-data; boundary=${BOUNDARY}`): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(link.url, { method: 'POST', headers: { 'content-type': contentType }, body: multipartBody(BOUNDARY, parts) });
      return { status: res.status, body: await res.json() };
    };
    const charsetField = (name: string, charset: string, value: string): Part =>
      ({ name, value, rawHeaders: `Content-Disposition: form-data; name="${name}"\r\nContent-Type: text/plain; charset=${charset}\r\n` });
    const image = (bytes: number): Part => ({ name: 'image', value: fakeJpeg(bytes), filename: 'a.jpg' });

    expect(await send([{ name: 'device_id', value: 'kiosk-cs' }, charsetField('image', 'utf-16', 'hello')]))
      .toMatchObject({ status: 415, body: { error: { code: 'unsupported_media_type' } } });
    expect(await send([charsetField('device_id', 'shift_jis', 'kiosk-cs'), image(2_000)]))
      .toMatchObject({ status: 400, body: { error: { code: 'invalid_device_id' } } });
    expect(await send([{ name: 'device_id', value: 'kiosk-cs' }, ...Array.from({ length: 25 }, (_, i): Part => ({ name: `f${i}`, value: 'x' })), image(2_000)]))
      .toMatchObject({ status: 400, body: { error: { code: 'too_many_fields' } } });
    expect(svc.rows().length).toBe(rowsBefore);
    await expectSpoolConsistent();

    const curlStyle = await send([{ name: 'device_id', value: 'kiosk-cs' }, image(2_500)], `multipart/form-data;; boundary=${BOUNDARY}`);
    expect(curlStyle.status).toBe(202);
    expect((await fetch(`${svc.baseUrl}/healthz`)).status).toBe(200);
  });

  it('a resend gets the first receipts (200, duplicate) and uses none of the link; the same bytes twice in a request are stored once', async () => {
    // Parts are counted against max_uploads as they arrive, before their bytes are known to be a resend:
    // a resend is answered with its receipts while the link has room for as many parts as it carries.
    const link = await createLink({ expires_in: '1h', max_uploads: 4, device_id: 'kiosk-5' });
    const a = fakeJpeg(8_000);
    const b = fakeJpeg(9_000);
    const first = await upload(link.url, [a, b, a]);
    expect(first.status).toBe(202);
    const [ra, rb, ra2] = first.body as Receipt[];
    expect(ra2).toMatchObject({ id: ra?.id, duplicate: true });
    expect(rb?.id).not.toBe(ra?.id);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 2 });
    const again = await upload(link.url, [a, b]);
    expect(again.status).toBe(200);
    expect((again.body as Receipt[]).map((r) => [r.id, r.duplicate])).toEqual([[ra?.id, true], [rb?.id, true]]);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 2 });
    // The same bytes through POST /image by the same device are a resend too.
    expect(await postImage(svc.baseUrl, 'kiosk-5', a)).toMatchObject({ status: 200, body: { id: ra?.id, duplicate: true } });
    await expectSpoolConsistent();
  });

  it('max_uploads: a request with more parts than remain is refused whole (409), the last one fits, then 410 link_used_up', async () => {
    const link = await createLink({ expires_in: '1h', max_uploads: 3, device_id: 'kiosk-6' });
    expect((await upload(link.url, [fakeJpeg(3_000), fakeJpeg(3_000)])).status).toBe(202);
    const rowsBefore = svc.rows().length;
    const over = await upload(link.url, [fakeJpeg(3_000), fakeJpeg(3_000)]);
    expect(over.status).toBe(409);
    expect((over.body as ErrorBody).error).toMatchObject({ code: 'link_quota_exceeded', message: expect.stringMatching(/can take 1 image in this request/) });
    expect(svc.rows().length).toBe(rowsBefore);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 2 });
    expect((await upload(link.url, [fakeJpeg(3_000)])).status).toBe(202);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 3 });
    const done = await upload(link.url, [fakeJpeg(3_000)]);
    expect(done).toMatchObject({ status: 410, body: { error: { code: 'link_used_up' } } });
    await expectSpoolConsistent();
  });

  it('max_uploads holds under concurrent requests through one link', async () => {
    const link = await createLink({ expires_in: '1h', max_uploads: 5, device_id: 'kiosk-7' });
    const results = await Promise.all(Array.from({ length: 6 }, () => upload(link.url, [fakeJpeg(20_000), fakeJpeg(20_000)])));
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409 || s === 410)).toBe(true);
    const stored = results.filter((r) => r.status === 202).flatMap((r) => r.body as Receipt[]);
    expect(stored.length).toBeLessThanOrEqual(5);
    expect(stored.length).toBeGreaterThanOrEqual(2);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: stored.length });
    expect(svc.rows().filter((r) => r.device_id === 'kiosk-7')).toHaveLength(stored.length);
    await expectSpoolConsistent();
  });

  /** Opens a raw connection and sends the head and `first` of a multipart POST to the link; the rest is up to the test. */
  async function rawUpload(url: string, first: Buffer, contentLength: number): Promise<{ socket: net.Socket; response: () => Promise<{ status: number; body: unknown }> }> {
    const socket = net.connect(svc.port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.write(requestHead(`POST ${new URL(url).pathname} HTTP/1.1`, [['Host', 'gateway.test'], ['Content-Type', `multipart/form-data; boundary=${BOUNDARY}`], ['Content-Length', String(contentLength)]]));
    socket.write(first);
    return {
      socket,
      response: async () => {
        await waitUntil(() => parseFirstResponse(Buffer.concat(chunks), false) !== null, 5_000);
        const parsed = parseFirstResponse(Buffer.concat(chunks), false);
        return { status: parsed?.status ?? 0, body: JSON.parse(parsed?.body.toString('utf8') ?? 'null') as unknown };
      },
    };
  }
  const partFiles = async (): Promise<string[]> => (await svc.files()).filter((f) => f.endsWith('.part'));

  it('a client that disconnects mid-request leaves no file and no row, and holds none of the link\'s uploads', async () => {
    const link = await createLink({ expires_in: '1h', max_uploads: 2, device_id: 'kiosk-10' });
    const rowsBefore = svc.rows().length;
    const first = multipartBody(BOUNDARY, [{ name: 'image', value: fakeJpeg(30_000), filename: 'a.jpg' }], { close: false });
    const second = Buffer.concat([Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="b.jpg"\r\n\r\n`), fakeJpeg(20_000)]);
    const { socket } = await rawUpload(link.url, Buffer.concat([first, second]), 200_000);
    await waitForAsync(async () => (await partFiles()).length > 0);
    socket.destroy();
    await waitForAsync(async () => (await partFiles()).length === 0);
    expect(svc.rows().length).toBe(rowsBefore);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 0 });
    // Its two reservations were returned: both uploads are still available.
    expect((await upload(link.url, [fakeJpeg(3_000), fakeJpeg(3_000)])).status).toBe(202);
    await expectSpoolConsistent();
  });

  it('a link revoked while a request is arriving refuses its next part (410) and stores nothing', async () => {
    const link = await createLink({ expires_in: '1h', device_id: 'kiosk-11' });
    const rowsBefore = svc.rows().length;
    const first = multipartBody(BOUNDARY, [{ name: 'image', value: fakeJpeg(30_000), filename: 'a.jpg' }], { close: false });
    const { socket, response } = await rawUpload(link.url, first, 200_000);
    await waitForAsync(async () => (await partFiles()).length > 0);
    expect((await admin('DELETE', `/admin/links/${link.token_id}`)).status).toBe(200);
    socket.write(multipartBody(BOUNDARY, [{ name: 'image', value: fakeJpeg(30_000), filename: 'b.jpg' }], { close: false }));
    expect(await response()).toMatchObject({ status: 410, body: { error: { code: 'link_revoked' } } });
    socket.destroy();
    await waitForAsync(async () => (await partFiles()).length === 0);
    expect(svc.rows().length).toBe(rowsBefore);
    expect(linkRow(link.token_id)).toMatchObject({ uploads_used: 0 });
    await expectSpoolConsistent();
  });

  it('expires: 410 link_expired after expires_in', async () => {
    const link = await createLink({ expires_in: 1, device_id: 'kiosk-8' });
    expect((await upload(link.url, [fakeJpeg(3_000)])).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(link.expires_at) - Date.now()) + 50));
    const late = await upload(link.url, [fakeJpeg(3_000)]);
    expect(late).toMatchObject({ status: 410, body: { error: { code: 'link_expired' } } });
    const listed = ((await (await admin('GET', '/admin/links')).json()) as { links: Array<{ token_id: string; state: string }> }).links;
    expect(listed.find((l) => l.token_id === link.token_id)).toMatchObject({ state: 'expired', uploads_used: 1 });
  });

  it('revoke: DELETE /admin/links/{token_id}, then 410 link_revoked; unknown token_id 404', async () => {
    const link = await createLink({ expires_in: '1h', device_id: 'kiosk-9' });
    const revoked = await admin('DELETE', `/admin/links/${link.token_id}`);
    expect(revoked.status).toBe(200);
    expect(await revoked.json()).toMatchObject({ token_id: link.token_id, revoked: true, state: 'revoked', revoked_at: expect.any(String) });
    const res = await upload(link.url, [fakeJpeg(3_000)]);
    expect(res).toMatchObject({ status: 410, body: { error: { code: 'link_revoked' } } });
    expect((await admin('DELETE', `/admin/links/${link.token_id}`)).status).toBe(200); // idempotent
    expect((await admin('DELETE', '/admin/links/0123456789ab')).status).toBe(404);
    expect((await admin('DELETE', '/admin/links/not-an-id')).status).toBe(404);
  });

  it('an unknown or malformed secret is 404 not_found, as any path that does not exist', async () => {
    const unknown = `${svc.baseUrl}/u/${Buffer.alloc(32, 7).toString('base64url')}`;
    expect(await upload(unknown, [fakeJpeg(3_000)])).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(await upload(`${svc.baseUrl}/u/short`, [fakeJpeg(3_000)])).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    // A GET on a real link is no route: the answer does not echo the secret.
    const link = await createLink({ expires_in: '1h' });
    const get = await fetch(link.url);
    expect(get.status).toBe(404);
    expect(await get.text()).not.toContain(secretOf(link.url));
  });

  it('lists links without their secrets or hashes', async () => {
    const res = await admin('GET', '/admin/links');
    expect(res.status).toBe(200);
    const text = await res.text();
    const { links } = JSON.parse(text) as { links: Array<Record<string, unknown>> };
    expect(links.length).toBe(secrets.length);
    for (const l of links) {
      expect(Object.keys(l).sort()).toEqual(['created_at', 'device_id', 'expires_at', 'max_uploads', 'revoked', 'revoked_at', 'state', 'token_id', 'uploads_used']);
    }
    for (const secret of secrets) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(sha256Hex(Buffer.from(secret)));
    }
  });

  it('the ledger holds only sha256(secret), never the secret', async () => {
    const rows = readLedger((db) => db.prepare('SELECT * FROM upload_links').all() as Array<Record<string, unknown>>);
    expect(rows.length).toBe(secrets.length);
    const hashes = new Set(rows.map((r) => r['secret_sha256']));
    for (const secret of secrets) {
      expect(hashes.has(createHash('sha256').update(secret).digest('hex'))).toBe(true);
      for (const row of rows) expect(Object.values(row)).not.toContain(secret);
    }
    // Not in any byte of the database files either (main file and WAL).
    for (const name of (await readdir(svc.spoolDir)).filter((f) => f.startsWith('ledger.db'))) {
      const bytes = await readFile(path.join(svc.spoolDir, name));
      for (const secret of secrets) expect(bytes.includes(Buffer.from(secret))).toBe(false);
    }
  });

  it('never logs a secret: access and error lines show /u/[redacted]', () => {
    const text = JSON.stringify(svc.logs);
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) expect(text).not.toContain(secret);
    const linkLines = svc.logs.filter((l) => typeof l['path'] === 'string' && (l['path'] as string).startsWith('/u/'));
    expect(linkLines.length).toBeGreaterThan(10);
    for (const line of linkLines) expect(line['path']).toBe('/u/[redacted]');
    // Both the access log and the refusals (410, 409, 400) went through the redaction.
    expect(linkLines.some((l) => l['msg'] === 'request' && l['status'] === 202)).toBe(true);
    expect(linkLines.some((l) => l['msg'] === 'request failed' && l['code'] === 'link_revoked')).toBe(true);
    expect(svc.logs.some((l) => l['msg'] === 'upload link created' && typeof l['token_id'] === 'string')).toBe(true);
  });
});

function secretOf(url: string): string {
  return url.slice(url.lastIndexOf('/u/') + 3);
}

async function waitForAsync(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function waitUntil(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
