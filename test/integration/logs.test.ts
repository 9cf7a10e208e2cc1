/**
 * Issue 6's logging promises, checked on the service's real log output: JSON lines with a request id,
 * exactly one access line per request, one line per upload attempt's outcome, levels from LOG_LEVEL,
 * and no token, secret or webhook credential anywhere in the log.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceTokens } from '../../src/devices/tokens.js';
import { openLedger } from '../../src/ledger/open.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';
import { freePort } from '../helpers/ports.js';
import { startObservedService, type ObservedService } from '../helpers/raw-http.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { CLI } from '../helpers/service-process.js';

const NOTIFY_SECRET = 'notify-secret-never-logged-0123';
// A chat-style webhook: the path and the query are the receiver's credential. Port 9 (discard) refuses.
const NOTIFY_URL = 'http://hookuser:hookpass@127.0.0.1:9/services/T0001/B0002/pathtoken-never-logged?sig=querytoken-never-logged';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const linesWhere = (svc: ObservedService, pred: (l: Record<string, unknown>) => boolean): Array<Record<string, unknown>> => svc.logs.filter(pred);

describe('logs while images flow to S3 (DEVICE_AUTH=token, NOTIFY_URL set)', () => {
  let s3: TestS3;
  let svc: ObservedService;
  let deviceToken: string;
  beforeAll(async () => {
    s3 = await startTestS3();
    svc = await startObservedService(s3, {
      UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0', DEVICE_AUTH: 'token', NOTIFY_URL, NOTIFY_SECRET, NOTIFY_RETRY_BASE_MS: '50',
    });
    const db = openLedger(path.join(svc.spoolDir, 'ledger.db'));
    deviceToken = new DeviceTokens(db).add('cam-1').token;
    db.close();
  });
  afterAll(async () => {
    await svc?.close();
    await s3?.close();
  });

  it('writes exactly one access line per request, with the caller\'s request id or a generated one', async () => {
    const sent: Array<{ rid: string; method: string; url: string; init?: RequestInit; status: number }> = [
      { rid: 'rid-healthz-1', method: 'GET', url: '/healthz', status: 200 },
      { rid: 'rid-missing-2', method: 'GET', url: '/nowhere', status: 404 },
      { rid: 'rid-admin-3', method: 'GET', url: '/admin/bwlimit', status: 401 },
      { rid: 'rid-text-4', method: 'POST', url: '/image', init: { body: 'x', headers: { 'content-type': 'text/plain', authorization: `Bearer ${deviceToken}` } }, status: 415 },
      { rid: 'rid-metrics-5', method: 'GET', url: '/metrics', status: 200 },
    ];
    for (const r of sent) {
      const res = await fetch(`${svc.baseUrl}${r.url}`, { ...r.init, method: r.method, headers: { ...(r.init?.headers as Record<string, string>), 'x-request-id': r.rid } });
      await res.arrayBuffer();
      expect(res.status).toBe(r.status);
      expect(res.headers.get('x-request-id')).toBe(r.rid);
    }
    for (const r of sent) {
      const access = linesWhere(svc, (l) => l['msg'] === 'request' && l['req_id'] === r.rid);
      expect(access, r.rid).toHaveLength(1);
      expect(access[0]).toMatchObject({ level: 30, method: r.method, path: r.url, status: r.status });
      expect(access[0]?.['ms']).toEqual(expect.any(Number));
    }
    // A refusal also names its code, under the same id.
    expect(linesWhere(svc, (l) => l['msg'] === 'request failed' && l['req_id'] === 'rid-text-4' && l['code'] === 'unsupported_media_type')).toHaveLength(1);

    // An id that is not a plausible id (too long, or with spaces) is replaced, and never written to the log.
    for (const offered of ['x'.repeat(129), 'has spaces in-it-never-logged']) {
      const res = await fetch(`${svc.baseUrl}/healthz`, { headers: { 'x-request-id': offered } });
      const rid = res.headers.get('x-request-id') ?? '';
      expect(rid).toMatch(UUID);
      expect(linesWhere(svc, (l) => l['msg'] === 'request' && l['req_id'] === rid)).toHaveLength(1);
      expect(JSON.stringify(svc.logs)).not.toContain(offered);
    }
  });

  it('writes one line per upload outcome, and no token, secret or webhook credential anywhere', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(10_000 + i), 'p.jpg', { authorization: `Bearer ${deviceToken}` });
      expect(res.status).toBe(202);
      ids.push(String(res.body['id']));
    }
    await waitFor(() => (ids.every((id) => linesWhere(svc, (l) => l['msg'] === 'upload ok' && l['id'] === id).length > 0) ? true : undefined), 15_000, 'every upload logged');
    for (const id of ids) expect(linesWhere(svc, (l) => l['msg'] === 'upload ok' && l['id'] === id), id).toHaveLength(1);
    // The webhook (unreachable) was tried and logged, so its URL had every chance to leak.
    await waitFor(() => (linesWhere(svc, (l) => String(l['msg']).startsWith('notification failed')).length > 0 ? true : undefined), 10_000, 'a failed notification');
    expect(linesWhere(svc, (l) => l['msg'] === 'notifications enabled')[0]?.['url']).toBe('http://127.0.0.1:9');

    // Credentials presented, right and wrong, on every kind of endpoint.
    await fetch(`${svc.baseUrl}/admin/bwlimit`, { headers: { authorization: `Bearer ${svc.adminToken}` } });
    await fetch(`${svc.baseUrl}/admin/bwlimit`, { headers: { authorization: 'Bearer wrong-admin-token-never-logged' } });
    await postImage(svc.baseUrl, 'cam-1', fakeJpeg(5000), 'p.jpg', { authorization: 'Bearer wrong-device-token-never-logged' });
    const text = JSON.stringify(svc.logs);
    for (const secret of [svc.adminToken, deviceToken, NOTIFY_SECRET, 'hookpass', 'pathtoken-never-logged', 'querytoken-never-logged',
      'wrong-admin-token-never-logged', 'wrong-device-token-never-logged']) {
      expect(text, secret).not.toContain(secret);
    }
  });
});

describe('logs while S3 is unreachable', () => {
  let svc: ObservedService;
  beforeAll(async () => {
    const s3 = await startTestS3();
    await s3.close();
    svc = await startObservedService(s3, { UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it('logs every attempt that ends in the pause, each once, matching the metric; the pause itself once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(String((await postImage(svc.baseUrl, `cam-${i}`, fakeJpeg(20_000))).body['id']));
    const systemic = await waitFor(async () => {
      const m = parseExposition(await (await fetch(`${svc.baseUrl}/metrics`)).text());
      const queued = sampleValue(m, 'image_spool_images', { state: 'queued' });
      return sampleValue(m, 'image_spool_uploader_paused') === 1 && queued === 3 ? sampleValue(m, 'image_spool_upload_attempts_total', { outcome: 'systemic' }) : undefined;
    }, 10_000, 'the pause');
    const lines = linesWhere(svc, (l) => l['msg'] === 'upload failed on a systemic error; image stays queued, attempt not counted');
    expect(systemic).toBeGreaterThanOrEqual(1);
    expect(lines).toHaveLength(systemic ?? -1);
    for (const line of lines) {
      expect(ids).toContain(line['id']);
      expect(line).toMatchObject({ level: 40, kind: 'systemic' });
    }
    expect(linesWhere(svc, (l) => String(l['msg']).startsWith('uploads paused'))).toHaveLength(1);
  });
});

describe('LOG_LEVEL', () => {
  it('sets the level of the running service: at warn, refusals are logged and info lines are not', async () => {
    const s3 = await startTestS3();
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-loglevel-'));
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env['PATH'] ?? '', ...s3Env(s3), HOST: '127.0.0.1', PORT: String(port), SPOOL_DIR: spoolDir, SPOOL_MIN_FREE_BYTES: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => ((await fetch(`${base}/healthz`).catch(() => null))?.status === 200 ? true : undefined), 20_000, 'the service to listen');
      expect((await postImage(base, 'bad id!', fakeJpeg(100))).status).toBe(400);
      await waitFor(() => (out.includes('"code":"invalid_device_id"') ? true : undefined), 5000, 'the refusal in the log');
    } finally {
      child.kill('SIGTERM');
      await exited;
      await s3.close();
      await rm(spoolDir, { recursive: true, force: true });
    }
    // JSON lines as the production logger writes them (src/log.ts): ISO time, the service's name.
    const lines = out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { level: number; msg: string; time: string; service: string });
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ service: 'image-spool', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(lines.some((l) => l.level === 40 && l.msg === 'request failed')).toBe(true);
    expect(lines.filter((l) => l.level < 40)).toEqual([]);
  });
});

