/**
 * Issue 23, private by default: with the default settings (DEVICE_AUTH=off, status page on, no IMAGE_READ),
 * nothing served without a credential opens a photo or its metadata (camera, GPS, capture time, size). An
 * unauthenticated crawler reads every public endpoint (status page and its JSON, metrics, OpenAPI, probes,
 * the backlog, error answers, headers), collects every id-shaped string in them and tries each one as an
 * image id, as a bearer or Basic credential and as a read link signature: none opens anything. A device that
 * holds its own image id learns the upload's outcome and nothing more. IMAGE_READ=open restores open reads
 * and says so in the log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { crawl, idShapedStrings, signedLinks, type CrawlRequest, type Crawled } from '../helpers/crawl.js';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { useInProcessService, waitFor, type InProcessService } from '../helpers/in-process.js';
import { s3Env, startTestS3 } from '../helpers/s3.js';
import { startServiceProcess } from '../helpers/service-process.js';
import { insertRowWithoutFile } from '../helpers/status.js';

const ADMIN_TOKEN = 'privacy-test-admin-token-0123456789abcdef';
const CAMERA = 'PrivacyCam 9000';
const LATITUDE = 61.2181;
const LONGITUDE = -149.9003;
/** Strings of the images' metadata (none is in the OpenAPI examples): none may appear in a public answer. */
const METADATA_STRINGS = [CAMERA, 'Acme Optics', '61.2181', '149.9003', '2025-02-14T06:07:08'];

interface Seeded {
  /** cam-a's photo with GPS, cam-b's, cam-c's copy of cam-a's (a duplicate), and a dead row. */
  ids: { a: string; b: string; c: string; dead: string };
  photoA: Buffer;
  secrets: string[];
}

async function seed(svc: InProcessService): Promise<Seeded> {
  const base = svc.baseUrl;
  const photoA = exifJpeg({ make: 'Acme Optics', model: CAMERA, latitude: LATITUDE, longitude: LONGITUDE, dateTimeOriginal: '2025:02:14 06:07:08', width: 4032, height: 3024, padding: 20_000 });
  const a = await postImage(base, 'cam-a', photoA, 'a.jpg', { 'idempotency-key': 'cam-a-0001' });
  const b = await postImage(base, 'cam-b', exifJpeg({ make: 'Acme Optics', model: CAMERA, latitude: -LATITUDE, longitude: LONGITUDE, width: 4032, height: 3024 }));
  const c = await postImage(base, 'cam-c', photoA);
  expect([a.status, b.status, c.status]).toEqual([202, 202, 202]);
  expect(c.body['duplicate_of']).toBe(a.body['id']);
  const ids = { a: String(a.body['id']), b: String(b.body['id']), c: String(c.body['id']), dead: insertRowWithoutFile(svc.service, 'cam-d') };
  // Credentials that exist while the crawler looks: an upload link and a read link.
  const adminPost = async (url: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${base}${url}`, { method: 'POST', headers: { ...svc.admin, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(201);
    return (await res.json()) as Record<string, unknown>;
  };
  const uploadLink = String((await adminPost('/admin/links', { expires_in: '1h' }))['url']);
  const readLink = new URL(String((await adminPost(`/admin/images/${ids.a}/read-link`, { expires_in: '1h' }))['url']));
  await waitFor(async () => {
    const record = async (id: string): Promise<Record<string, unknown>> => (await (await fetch(`${base}/images/${id}/status`, { headers: svc.admin })).json()) as Record<string, unknown>;
    const [ra, rb, rd] = await Promise.all([record(ids.a), record(ids.b), record(ids.dead)]);
    return ra['state'] === 'uploaded' && rb['state'] === 'uploaded' && ra['metadata'] !== null && rb['metadata'] !== null && rd['state'] === 'dead' ? true : undefined;
  }, 15_000, 'two uploads with metadata and a dead image');
  return { ids, photoA, secrets: [ADMIN_TOKEN, uploadLink.split('/u/')[1] ?? '', readLink.searchParams.get('sig') ?? ''] };
}

/** Every public endpoint, and answers a crawler can provoke: errors, refusals, a 409 that names an image. */
function publicRequests(): CrawlRequest[] {
  const get = (p: string): CrawlRequest => ({ method: 'GET', path: p });
  const form = (deviceId: string, image: Buffer): FormData => {
    const f = new FormData();
    f.append('device_id', deviceId);
    f.append('image', new Blob([image]), 'x.jpg');
    return f;
  };
  return [
    get('/'), { method: 'HEAD', path: '/' }, get('/status.json'), get('/full/'), get('/full/status.json'),
    get('/metrics'), get('/openapi.json'), get('/healthz'), get('/readyz'), get('/images'),
    get('/nowhere'), get('/images/NOPE'), get('/images/NOPE/status'), get('/images/01M84CWPD0SMD5ZBY79VQQHV2V'),
    get('/images/01M84CWPD0SMD5ZBY79VQQHV2V?expires=1&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
    get('/admin/status'), get('/admin/links'), { method: 'POST', path: '/admin/images/01M84CWPD0SMD5ZBY79VQQHV2V/read-link' },
    { method: 'POST', path: '/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', body: form('x', fakeJpeg(100)) },
    { method: 'POST', path: '/image', body: form('bad id!', fakeJpeg(100)) },
    // cam-a's Idempotency-Key with other bytes: the 409 is about cam-a's earlier image.
    { method: 'POST', path: '/image', body: form('cam-a', fakeJpeg(3000)), headers: { 'idempotency-key': 'cam-a-0001' } },
  ];
}

/** What one id-shaped string opens without a credential: nothing, or the problems found. */
async function tryString(svc: InProcessService, s: Seeded, candidate: string, expiries: readonly string[]): Promise<string[]> {
  const base = svc.baseUrl;
  const problems: string[] = [];
  const id = encodeURIComponent(candidate);
  const bytes = await fetch(`${base}/images/${id}`);
  const bytesType = bytes.headers.get('content-type') ?? '';
  await bytes.arrayBuffer();
  if (bytes.ok || bytes.status === 304 || bytesType.startsWith('image/')) problems.push(`GET /images/${candidate} answered ${bytes.status} ${bytesType}`);
  const status = await fetch(`${base}/images/${id}/status`);
  const statusText = await status.text();
  if (status.ok && (statusText.includes('"metadata"') || METADATA_STRINGS.some((m) => statusText.includes(m)))) problems.push(`GET /images/${candidate}/status gave metadata`);
  // As a credential for a real image: the bearer, the Basic password, the read link signature.
  const realIds = [s.ids.a, s.ids.b];
  const attempts: Array<[string, RequestInit]> = [];
  if (candidate.length >= 20) {
    for (const real of realIds) {
      attempts.push([`/images/${real}`, { headers: { authorization: `Bearer ${candidate}` } }]);
      attempts.push([`/images/${real}`, { headers: { authorization: `Basic ${Buffer.from(`x:${candidate}`).toString('base64')}` } }]);
    }
  }
  if (/^[A-Za-z0-9_-]{43}$/.test(candidate)) {
    for (const real of realIds) for (const expires of expiries) attempts.push([`/images/${real}?expires=${expires}&sig=${candidate}`, {}]);
  }
  for (const [url, init] of attempts) {
    const res = await fetch(`${base}${url}`, init);
    await res.arrayBuffer();
    if (res.ok) problems.push(`${url} with ${candidate.slice(0, 12)}… answered ${res.status}`);
  }
  return problems;
}

describe('private by default: nothing public opens a photo or its metadata', () => {
  const ctx = useInProcessService({ ADMIN_TOKEN, UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
  let seeded: Seeded;
  let publicAnswers: Crawled[];

  it('the issue\'s three steps, as anyone on the LAN: no id in /status.json, and an id does not give the photo or where it was taken', async () => {
    const svc = ctx.svc;
    seeded = await seed(svc);
    const { a } = seeded.ids;
    const status = (await (await fetch(`${svc.baseUrl}/status.json`)).json()) as { recent_uploads: Array<{ id: string; camera_model: string | null }> };
    expect(status.recent_uploads.length).toBeGreaterThanOrEqual(2);
    for (const u of status.recent_uploads) {
      expect(u.id).toMatch(/^…[0-9A-Z]{6}$/);
      expect(u.camera_model).toBeNull();
    }
    const photo = await fetch(`${svc.baseUrl}/images/${a}`);
    expect(photo.status).toBe(401);
    expect(photo.headers.get('www-authenticate')).toBe('Bearer');
    expect(await photo.json()).toMatchObject({ error: { code: 'unauthorized' } });
    const record = (await (await fetch(`${svc.baseUrl}/images/${a}/status`)).json()) as Record<string, unknown>;
    expect(record).not.toHaveProperty('metadata');
    expect(JSON.stringify(record)).not.toMatch(/gps|latitude|61\.21|PrivacyCam/i);
    // The same requests with the admin token: the photo, byte for byte, and where it was taken.
    const withToken = await fetch(`${svc.baseUrl}/images/${a}`, { headers: svc.admin });
    expect(Buffer.from(await withToken.arrayBuffer()).equals(seeded.photoA)).toBe(true);
    const full = (await (await fetch(`${svc.baseUrl}/images/${a}/status`, { headers: svc.admin })).json()) as { metadata: { gps: unknown; camera_model: string } };
    expect(full.metadata).toMatchObject({ camera_model: CAMERA, gps: { latitude: LATITUDE, longitude: LONGITUDE } });
  });

  it('public answers carry no whole image id, no image hash, no metadata and no secret', async () => {
    publicAnswers = await crawl(ctx.svc.baseUrl, publicRequests());
    const statuses = Object.fromEntries(publicAnswers.map((r) => [r.request, r.status]));
    expect(statuses).toMatchObject({ 'GET /': 200, 'GET /status.json': 200, 'GET /metrics': 200, 'GET /openapi.json': 200, 'GET /readyz': 200, 'GET /full/': 401, 'POST /image': 409 });
    const conflict = publicAnswers.at(-1) as Crawled;
    expect(conflict.text).toContain('idempotency_key_reused'); // an error about cam-a's image: its id and hash shortened
    const { a, b, c, dead } = seeded.ids;
    const hashes = [sha256Hex(seeded.photoA)];
    const leaks: string[] = [];
    for (const answer of publicAnswers) {
      const shown = (what: string, needle: string): void => {
        if (answer.text.includes(needle)) leaks.push(`${answer.request} shows ${what} ${needle.slice(0, 20)}`);
      };
      for (const id of [a, b, c, dead]) shown('an image id (its last 7 characters)', id.slice(-7));
      for (const hash of hashes) shown('an image hash', hash.slice(0, 16));
      for (const m of METADATA_STRINGS) shown('metadata', m);
      for (const secret of seeded.secrets) shown('a secret', secret);
    }
    expect(leaks).toEqual([]);
    // Metrics labels are fixed sets: no image id and no device id (a label per device would grow without bound).
    const metrics = publicAnswers.find((r) => r.request === 'GET /metrics')?.text ?? '';
    const labelValues = new Set([...metrics.matchAll(/[a-z_]+="([^"]*)"/g)].map((m) => m[1] as string));
    expect(labelValues.size).toBeGreaterThan(10);
    for (const device of ['cam-a', 'cam-b', 'cam-c', 'cam-d']) expect(labelValues.has(device), device).toBe(false);
    expect([...labelValues].filter((v) => /[0-9A-HJKMNP-TV-Z]{26}/.test(v))).toEqual([]);
  });

  it('a crawler tries every id-shaped string it found as an id, a bearer, a Basic password and a link signature: none opens anything', async () => {
    const svc = ctx.svc;
    const texts = publicAnswers.map((r) => r.text);
    // A device that holds its own id learns its upload's outcome; what that shows is crawled too. cam-c's
    // receipt is a duplicate: its s3_key is the shared object's, so it names cam-a's image id.
    const ownOutcome = await crawl(svc.baseUrl, [{ method: 'GET', path: `/images/${seeded.ids.c}/status` }]);
    expect(ownOutcome[0]?.status).toBe(200);
    texts.push(...ownOutcome.map((r) => r.text));

    const candidates = idShapedStrings(texts);
    const expiries = [...new Set([...texts.join('\n').matchAll(/\b\d{10}\b/g)].map((m) => m[0])), String(Math.floor(Date.now() / 1000) + 3600)];
    expect(candidates.length).toBeGreaterThan(50); // request ids, example ids, hashes, shortened ids, s3 keys
    expect(candidates).toContain(seeded.ids.a.slice(-6)); // a shortened id, as the page shows it
    const problems: string[] = [];
    for (const candidate of candidates) problems.push(...(await tryString(svc, seeded, candidate, expiries)));
    for (const link of signedLinks(texts)) {
      const u = new URL(link, svc.baseUrl); // an example's host is not this gateway: ask this one
      const res = await fetch(`${svc.baseUrl}${u.pathname}${u.search}`);
      if (res.ok) problems.push(`${link} answered ${res.status}`);
    }
    console.log(`crawler: ${publicAnswers.length + ownOutcome.length} answers, ${candidates.length} id-shaped strings tried, ${signedLinks(texts).length} signed links`);
    // Positive control: the same probe, handed a string that does open photos (the admin token), must say so,
    // or its empty answer above would mean nothing.
    const control = await tryString(svc, seeded, ADMIN_TOKEN, expiries);
    expect(control).not.toEqual([]);
    expect(control).toContain(`/images/${seeded.ids.a} with ${ADMIN_TOKEN.slice(0, 12)}… answered 200`);
    expect(problems).toEqual([]);
  }, 120_000);

  it('is not blind: with the admin token the same crawl finds the ids, and they open the photo', async () => {
    const svc = ctx.svc;
    const full = await crawl(svc.baseUrl, [{ method: 'GET', path: '/status.json', headers: svc.admin }]);
    const found = idShapedStrings(full.map((r) => r.text));
    expect(found).toEqual(expect.arrayContaining([seeded.ids.a, seeded.ids.b, seeded.ids.dead]));
    expect((await fetch(`${svc.baseUrl}/images/${seeded.ids.a}`, { headers: svc.admin })).status).toBe(200);
  });

  it('lets a device that holds its id learn the outcome of its upload, and nothing from the image', async () => {
    const svc = ctx.svc;
    const outcome = (await (await fetch(`${svc.baseUrl}/images/${seeded.ids.a}/status`)).json()) as Record<string, unknown>;
    expect(Object.keys(outcome).sort()).toEqual(['attempts', 'bytes', 'content_type', 'device_id', 'id', 'next_attempt_at', 'received_at', 's3_key', 'sha256', 'state', 'uploaded_at']);
    expect(outcome).toMatchObject({ id: seeded.ids.a, device_id: 'cam-a', state: 'uploaded', attempts: 1, s3_key: expect.stringContaining(seeded.ids.a) });
    const dead = (await (await fetch(`${svc.baseUrl}/images/${seeded.ids.dead}/status`)).json()) as Record<string, unknown>;
    expect(dead).toMatchObject({ state: 'dead', attempts: 1 });
    expect(dead).not.toHaveProperty('last_error'); // the error text names files
    // A credential that is not the admin token is refused, not answered with less.
    expect((await fetch(`${svc.baseUrl}/images/${seeded.ids.a}/status`, { headers: { authorization: 'Bearer not-the-token' } })).status).toBe(401);
  });
});

describe('IMAGE_READ=open', () => {
  it('restores open reads and warns at start', async () => {
    const s3 = await startTestS3();
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-open-'));
    const svc = await startServiceProcess({ ...s3Env(s3), SPOOL_DIR: spoolDir, IMAGE_READ: 'open', UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const warning = svc.logs.join('').split('\n').map((l) => (l.startsWith('{') ? (JSON.parse(l) as { level: number; msg: string }) : null))
        .find((l) => l?.msg.startsWith('IMAGE_READ=open'));
      expect(warning).toMatchObject({ level: 40, msg: expect.stringContaining('anyone who reaches the port') });
      const photo = exifJpeg({ model: CAMERA, latitude: LATITUDE, longitude: LONGITUDE });
      const id = (await postImage(svc.baseUrl, 'cam-a', photo)).body['id'] as string;
      const bytes = await fetch(`${svc.baseUrl}/images/${id}`);
      expect(bytes.status).toBe(200);
      expect(Buffer.from(await bytes.arrayBuffer()).equals(photo)).toBe(true);
      const record = await waitFor(async () => {
        const body = (await (await fetch(`${svc.baseUrl}/images/${id}/status`)).json()) as { metadata: { camera_model: string } | null };
        return body.metadata === null ? undefined : body;
      }, 10_000, 'metadata');
      expect(record.metadata).toMatchObject({ camera_model: CAMERA });
    } finally {
      svc.kill('SIGTERM');
      await svc.exited;
      await rm(spoolDir, { recursive: true, force: true });
      await s3.close();
    }
  }, 30_000);
});
