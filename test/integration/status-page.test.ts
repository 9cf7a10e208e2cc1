/**
 * GET / and GET /status.json against the real service and s3rver: the numbers the page shows are the
 * ledger's and the uploader's, the JSON carries no secret, device-supplied text is data, the per-device
 * and recent-row reads are index walks (checked on their query plans), anyone sees the public view (no
 * whole image id, no camera data) and the admin token the full one (/full/ asks a browser for it with
 * HTTP Basic), and STATUS_PAGE=off removes them all.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLedger } from '../../src/ledger/open.js';
import { StatusQueries } from '../../src/ledger/status.js';
import { parseRate } from '../../src/throttle/rate.js';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, useInProcessService, waitFor } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';
import { fetchStatus, HOSTILE_TEXT, insertRowWithoutFile } from '../helpers/status.js';
import type { StatusReport } from '../../src/status/report.js';

const ADMIN_TOKEN = 'status-page-test-admin-token-0123456789';
const TIMETABLE = '00:00,40Mbit 12:00,80Mbit Sat-00:00,off';

async function post(baseUrl: string, deviceId: string, image: Buffer): Promise<string> {
  const res = await postImage(baseUrl, deviceId, image);
  expect(res.status).toBe(202);
  return String(res.body['id']);
}

describe('GET /status.json with uploads flowing', () => {
  const ctx = useInProcessService({ ADMIN_TOKEN, UPLOAD_BWLIMIT: TIMETABLE, SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });

  it('reports the backlog, totals, per-device counts, recent uploads and errors as the ledger has them', async () => {
    const base = ctx.svc.baseUrl;
    const ids: Record<string, string[]> = { 'cam-a': [], 'cam-b': [], 'cam-c': [] };
    for (let i = 0; i < 3; i++) ids['cam-a']?.push(await post(base, 'cam-a', fakeJpeg(2000 + i)));
    for (let i = 0; i < 2; i++) ids['cam-b']?.push(await post(base, 'cam-b', fakeJpeg(3000 + i)));
    // A camera model is device-supplied text that reaches the page through the API (EXIF).
    ids['cam-c']?.push(await post(base, 'cam-c', exifJpeg({ make: 'Acme', model: HOSTILE_TEXT })));
    const hostileId = insertRowWithoutFile(ctx.svc.service, HOSTILE_TEXT);

    const settled = await waitFor(async () => {
      const s = await fetchStatus(base, ADMIN_TOKEN);
      const cameraKnown = s.recent_uploads.some((u) => u.camera_model === HOSTILE_TEXT);
      return s.totals.uploaded === 6 && s.totals.dead === 1 && cameraKnown ? Date.parse(s.generated_at) : undefined;
    }, 15_000, 'six uploads, one dead, the camera model extracted');
    // Per-device numbers are cached for at least a second (cost-bounded): wait for ones computed since.
    const status = await waitFor(async () => {
      const s = await fetchStatus(base, ADMIN_TOKEN);
      return Date.parse(s.devices.computed_at) > settled ? s : undefined;
    }, 5000, 'per-device counts computed after the uploads');

    expect(status.backlog).toEqual({ images: 0, bytes: 0, oldest_queued_at: null, drain_eta_seconds: status.bandwidth.rate_bytes_per_sec === null ? null : 0 });
    expect(status.totals).toMatchObject({ receipts: 7, uploaded: 6, dead: 1, evicted: 0 });
    expect(status.totals.uploaded_bytes).toBe(2000 + 2001 + 2002 + 3000 + 3001 + exifJpeg({ make: 'Acme', model: HOSTILE_TEXT }).length);

    const posted = Object.values(ids).flat();
    expect(status.recent_uploads.map((u) => u.id).sort()).toEqual([...posted].sort());
    expect(status.recent_uploads.find((u) => u.id === ids['cam-b']?.[0])).toMatchObject({ device_id: 'cam-b', bytes: 3000, content_type: 'image/jpeg' });
    // Newest upload first.
    const times = status.recent_uploads.map((u) => u.uploaded_at);
    expect(times).toEqual([...times].sort().reverse());

    const device = (id: string): unknown => status.devices.rows.find((d) => d.device_id === id);
    expect(status.devices.total).toBe(4);
    expect(device('cam-a')).toMatchObject({ backlog: 0, received_last_hour: 3, uploaded_last_hour: 3 });
    expect(device('cam-b')).toMatchObject({ backlog: 0, received_last_hour: 2, uploaded_last_hour: 2 });
    expect(device('cam-c')).toMatchObject({ backlog: 0, received_last_hour: 1, uploaded_last_hour: 1 });
    expect(device(HOSTILE_TEXT)).toMatchObject({ backlog: 0, received_last_hour: 1, uploaded_last_hour: 0 });
    expect(status.devices.rows[0]?.device_id).toBe('cam-a'); // no backlog anywhere: most received first

    expect(status.dead_images).toEqual([expect.objectContaining({ id: hostileId, device_id: HOSTILE_TEXT, attempts: 1, last_error: expect.stringContaining('spool_file_missing') })]);
    expect(status.recent_errors).toEqual([expect.objectContaining({ kind: 'dead', image_id: hostileId, device_id: HOSTILE_TEXT, error: expect.stringContaining('spool_file_missing') })]);

    // The cap in force is the timetable entry active now (local time), and it is the one marked.
    const active = status.bandwidth.timetable.filter((e) => e.active);
    expect(status.bandwidth.timetable.map((e) => e.entry)).toEqual(TIMETABLE.split(' '));
    expect(active).toHaveLength(1);
    expect(status.bandwidth).toMatchObject({ source: 'schedule', schedule: TIMETABLE, override: null, limited_by: 'cap' });
    const activeRate = parseRate((active[0]?.entry ?? '').split(',')[1] ?? '');
    expect(status.bandwidth.rate_bytes_per_sec).toBe(Number.isFinite(activeRate) ? activeRate : null);
    expect(status.uploader).toEqual({ active_uploads: 0, paused: null });

    // History: the sample taken at start, and a current reading that has seen the uploads' bytes.
    expect(status.history.interval_ms).toBe(10_000);
    expect(status.history.samples.length).toBeGreaterThanOrEqual(1);
    expect(status.history.current.cap_bytes_per_sec).toBe(status.bandwidth.rate_bytes_per_sec);
    expect(status.history.current.backlog_images).toBe(0);
    expect(status.history.current.egress_bytes_per_sec).toBeGreaterThan(0);
  });

  it('shows anyone the public view: image ids shortened, no camera model, no id in error texts', async () => {
    const base = ctx.svc.baseUrl;
    const full = await fetchStatus(base, ADMIN_TOKEN);
    expect(full.view).toBe('full');
    const ids = [...full.recent_uploads.map((u) => u.id), ...full.dead_images.map((d) => d.id)];
    expect(ids.length).toBeGreaterThanOrEqual(7);
    const dead = full.dead_images[0];
    expect(dead?.last_error).toContain(dead?.id); // the error names the image's file: the id is in the text

    const text = await (await fetch(`${base}/status.json`)).text();
    const pub = JSON.parse(text) as StatusReport;
    expect(pub.view).toBe('public');
    for (const id of ids) expect(text).not.toContain(id.slice(-7));
    const short = (id: string): string => `…${id.slice(-6)}`;
    expect(pub.recent_uploads.map((u) => u.id)).toEqual(full.recent_uploads.map((u) => short(u.id)));
    expect(pub.recent_uploads.map((u) => u.camera_model)).toEqual(full.recent_uploads.map(() => null));
    expect(pub.recent_uploads.map((u) => u.device_id)).toEqual(full.recent_uploads.map((u) => u.device_id));
    expect(pub.dead_images).toEqual([expect.objectContaining({ id: short(dead?.id ?? ''), device_id: HOSTILE_TEXT, last_error: expect.stringContaining(short(dead?.id ?? '')) })]);
    expect(pub.recent_errors.map((e) => e.image_id)).toEqual(full.recent_errors.map((e) => (e.image_id === null ? null : short(e.image_id))));
    // The numbers are the same in both views.
    for (const key of ['backlog', 'totals', 'bandwidth', 'uploader'] as const) expect(pub[key], key).toEqual(full[key]);
    expect(pub.devices.rows).toEqual(full.devices.rows);
  });

  it('gives the full view for the admin token (Bearer or Basic), and /full/ asks a browser for it with Basic', async () => {
    const base = ctx.svc.baseUrl;
    const basic = (password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}` });
    const view = async (url: string, headers: Record<string, string>): Promise<string> => ((await (await fetch(`${base}${url}`, { headers })).json()) as StatusReport).view;
    expect(await view('/status.json', basic(ADMIN_TOKEN))).toBe('full');
    expect(await view('/status.json', { authorization: `Bearer ${ADMIN_TOKEN}` })).toBe('full');
    expect(await view('/status.json', basic('wrong'))).toBe('public');
    expect(await view('/full/status.json', basic(ADMIN_TOKEN))).toBe('full');

    for (const url of ['/full/', '/full/status.json']) {
      for (const headers of [{}, basic('wrong'), { authorization: 'Bearer wrong' }]) {
        const refused = await fetch(`${base}${url}`, { headers });
        expect(refused.status, url).toBe(401);
        expect(refused.headers.get('www-authenticate')).toBe('Basic realm="image-spool admin", charset="UTF-8"');
        expect(await refused.json()).toMatchObject({ error: { code: 'unauthorized' } });
      }
    }
    const page = await fetch(`${base}/full/`, { headers: basic(ADMIN_TOKEN) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe((await fetch(`${base}/`)).headers.get('content-security-policy'));
    expect(await page.text()).toContain("fetch('status.json'"); // relative: /full/status.json, in the Basic realm
  });

  it('follows an operator override at once', async () => {
    const put = await fetch(`${ctx.svc.baseUrl}/admin/bwlimit`, {
      method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ rate: '20Mbit' }),
    });
    expect(put.status).toBe(200);
    const status = await fetchStatus(ctx.svc.baseUrl);
    expect(status.bandwidth).toMatchObject({ source: 'override', override: '20Mbit', rate_bytes_per_sec: 2_500_000 });
    expect(status.bandwidth.timetable.some((e) => e.active)).toBe(false);
    expect(status.history.current.cap_bytes_per_sec).toBe(2_500_000);
  });

  it('shows no secret: not the admin token, not an upload link secret', async () => {
    const res = await fetch(`${ctx.svc.baseUrl}/admin/links`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ expires_in: '1h', device_id: 'kiosk-1' }),
    });
    expect(res.status).toBe(201);
    const { url } = (await res.json()) as { url: string };
    const form = new FormData();
    form.append('image', new Blob([fakeJpeg(4000)]), 'p.jpg');
    expect((await fetch(url, { method: 'POST', body: form })).status).toBe(202);
    const text = await waitFor(async () => {
      const body = await (await fetch(`${ctx.svc.baseUrl}/status.json`)).text();
      return body.includes('kiosk-1') ? body : undefined;
    }, 15_000, 'the link upload on the status page');
    const secret = url.split('/u/')[1] ?? '';
    expect(secret.length).toBeGreaterThan(20);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(ADMIN_TOKEN);
  });

  it('serves the page: static HTML with a CSP that allows no inline code but its own, and no data in it', async () => {
    const res = await fetch(`${ctx.svc.baseUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]{44}'(;|$)/);
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain('<title>image-spool status</title>');
    expect(html).toContain("fetch('status.json'");
    expect(html).not.toContain('cam-a');
    expect((await fetch(`${ctx.svc.baseUrl}/status.json`)).headers.get('cache-control')).toBe('no-store');
  });

  it('reads the ledger along indexes only: no query plan scans the images table', () => {
    const db = openLedger(path.join(ctx.svc.spoolDir, 'ledger.db'), { readonly: true });
    try {
      const statements = new StatusQueries(db).statements;
      expect(Object.keys(statements).length).toBeGreaterThanOrEqual(7);
      for (const [name, sql] of Object.entries(statements)) {
        const params = (sql.match(/\?/g) ?? []).map(() => 'x');
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
        expect(plan, name).not.toMatch(/SCAN images\b/);
      }
    } finally {
      db.close();
    }
  });
});

describe('GET /status.json while S3 is unreachable', () => {
  it('shows the backlog per device and why uploads are paused', async () => {
    const s3 = await startTestS3();
    await s3.close(); // nothing listens on its port any more: every upload fails ECONNREFUSED (systemic)
    const svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '8Mbit', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
    try {
      const sizes = [5000, 6000, 7000, 8000, 9000, 10_000];
      for (const [i, bytes] of sizes.entries()) await post(svc.baseUrl, i < 4 ? 'cam-x' : 'cam-y', fakeJpeg(bytes));
      const status = await waitFor(async () => {
        const s = await fetchStatus(svc.baseUrl);
        const x = s.devices.rows.find((d) => d.device_id === 'cam-x');
        return s.uploader.paused !== null && x?.backlog === 4 ? s : undefined;
      }, 15_000, 'paused uploader and the backlog per device');
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(status.backlog).toMatchObject({ images: 6, bytes: total, drain_eta_seconds: Math.ceil(total / 1_000_000) });
      expect(Date.parse(status.backlog.oldest_queued_at ?? '')).toBeLessThanOrEqual(Date.now());
      expect(status.devices.rows.map((d) => [d.device_id, d.backlog, d.received_last_hour, d.uploaded_last_hour]))
        .toEqual([['cam-x', 4, 4, 0], ['cam-y', 2, 2, 0]]);
      expect(status.uploader.paused?.reason).toMatch(/ECONNREFUSED/);
      expect(status.recent_errors.some((e) => e.kind === 'paused' && /ECONNREFUSED/.test(e.error ?? ''))).toBe(true);
      expect(status.totals.uploaded).toBe(0);
      expect(status.history.current).toMatchObject({ backlog_images: 6, backlog_bytes: total, cap_bytes_per_sec: 1_000_000 });
    } finally {
      await svc.close();
    }
  });
});

describe('STATUS_PAGE=off', () => {
  it('serves neither the page nor its JSON', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { STATUS_PAGE: 'off', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      for (const url of ['/', '/status.json', '/full/', '/full/status.json']) {
        const res = await fetch(`${svc.baseUrl}${url}`);
        expect(res.status, url).toBe(404);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
      }
      expect((await fetch(`${svc.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await svc.close();
      await s3.close();
    }
  });
});
