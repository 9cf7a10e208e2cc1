import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startService } from '../../src/main.js';
import { startInProcess, useInProcessService, type InProcessService } from '../helpers/in-process.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { CLI } from '../helpers/service-process.js';

describe('admin API: bandwidth override', () => {
  let s3: TestS3;
  let svc: InProcessService;
  let token: string;
  const call = (method: string, route: string, body?: unknown, auth: string | null = token) =>
    fetch(`${svc.baseUrl}${route}`, {
      method,
      headers: { ...(auth === null ? {} : { authorization: `Bearer ${auth}` }), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  beforeAll(async () => {
    s3 = await startTestS3();
    svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '08:00,40Mbit 18:00,100Mbit' });
    const file = path.join(svc.spoolDir, 'admin.token');
    token = readFileSync(file, 'utf8').trim();
  });
  afterAll(async () => {
    await svc?.close();
    await s3?.close();
  });

  it('generates a 0600 token file when ADMIN_TOKEN is unset', () => {
    expect(token.length).toBeGreaterThanOrEqual(40);
    expect(statSync(path.join(svc.spoolDir, 'admin.token')).mode & 0o777).toBe(0o600);
  });

  it('refuses missing and wrong tokens with 401 JSON', async () => {
    for (const auth of [null, 'wrong', `${token}x`]) {
      const res = await call('GET', '/admin/bwlimit', undefined, auth);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    }
  });

  it('shows the schedule, overrides live, refuses bad rates, and returns to the schedule', async () => {
    const initial = (await (await call('GET', '/admin/bwlimit')).json()) as Record<string, unknown>;
    expect(initial).toMatchObject({ source: 'schedule', schedule: '08:00,40Mbit 18:00,100Mbit', override: null });
    expect([5_000_000, 12_500_000]).toContain(initial['rate_bytes_per_sec']);

    const set = await call('PUT', '/admin/bwlimit', { rate: '20Mbit' });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ source: 'override', rate_bytes_per_sec: 2_500_000 });
    expect(svc.service.throttle.rate).toBe(2_500_000); // the shared bucket changed at once

    const bad = await call('PUT', '/admin/bwlimit', { rate: '20 furlongs' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('"20 furlongs"');
    expect(svc.service.throttle.rate).toBe(2_500_000);
    expect((await call('PUT', '/admin/bwlimit', { speed: 1 })).status).toBe(400);

    const cleared = await call('PUT', '/admin/bwlimit', { rate: null });
    expect(await cleared.json()).toMatchObject({ source: 'schedule', override: null });
    expect(svc.service.throttle.rate).toBe(initial['rate_bytes_per_sec']);
  });

  it('keeps an override across a restart', async () => {
    await call('PUT', '/admin/bwlimit', { rate: 'off' });
    await svc.service.stop();
    const config = loadConfig({ ...s3Env(s3), HOST: '127.0.0.1', PORT: '0', SPOOL_DIR: svc.spoolDir, UPLOAD_BWLIMIT: '1MB' });
    const again = await startService(config, pino({ level: 'silent' }));
    try {
      expect(again.bandwidth.state()).toMatchObject({ source: 'override', override: 'off', rate_bytes_per_sec: null });
      expect(again.throttle.rate).toBe(Infinity);
    } finally {
      again.bandwidth.setOverride(null);
      expect(again.throttle.rate).toBe(1_000_000);
      await again.stop();
    }
  });
});

describe('CLI bwlimit against a running service', () => {
  const ctx = useInProcessService({ UPLOAD_BWLIMIT: '10MB' });

  // Asynchronous on purpose: the service runs in this process and must keep answering while the CLI waits.
  const cli = (args: string[], env: Record<string, string> = {}) => new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, 'bwlimit', ...args], {
      env: { PATH: process.env['PATH'] ?? '', SPOOL_DIR: ctx.svc.spoolDir, IMAGE_SPOOL_URL: ctx.svc.baseUrl, ...env }, encoding: 'utf8',
    }, (err, stdout, stderr) => resolve({ status: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });

  it('shows, overrides and clears the budget using the token file, and reports the service\'s own errors', async () => {
    expect(JSON.parse((await cli(['--json'])).stdout)).toMatchObject({ source: 'schedule', rate_bytes_per_sec: 10_000_000 });
    expect(JSON.parse((await cli(['8Mbit', '--json'])).stdout)).toMatchObject({ source: 'override', rate_bytes_per_sec: 1_000_000 });
    expect(ctx.svc.service.throttle.rate).toBe(1_000_000);
    const bad = await cli(['8 bananas']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/invalid_rate: .*"8 bananas"/);
    const denied = await cli([], { ADMIN_TOKEN: 'not-the-token' });
    expect(denied.status).toBe(1);
    expect(denied.stderr).toMatch(/^image-spool: unauthorized:/);
    expect(JSON.parse((await cli(['--clear', '--json'])).stdout)).toMatchObject({ source: 'schedule', override: null });
    expect(ctx.svc.service.throttle.rate).toBe(10_000_000);
    const down = await cli([], { IMAGE_SPOOL_URL: 'http://127.0.0.1:9' });
    expect(down.stderr).toMatch(/^image-spool: service_unreachable:/);
  });
});
