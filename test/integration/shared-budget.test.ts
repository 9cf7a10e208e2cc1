/**
 * BUDGET_BACKEND=redis over HTTP: two gateways (in-process services) and a real redis-server started here.
 * The operator's override reaches every gateway; /readyz, /metrics and GET /admin/bwlimit show where the
 * budget comes from; without Redis an override is refused and the gateways run on cap / GATEWAY_COUNT.
 * Skipped, with the reason printed, without redis-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';
import { redisServerMissing, startTestRedis, type TestRedis } from '../helpers/redis.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const missing = redisServerMissing();
if (missing) console.warn(`SKIPPED shared budget over HTTP: ${missing}`);

const ADMIN_TOKEN = 'shared-budget-admin-token-0123456789';
const CAP = 4_000_000;

describe.skipIf(missing !== null)('shared budget over HTTP (two gateways, one Redis)', () => {
  let redis: TestRedis;
  let s3: TestS3;
  let a: InProcessService;
  let b: InProcessService;
  const admin = (svc: InProcessService, method: string, body?: unknown): Promise<Response> => fetch(`${svc.baseUrl}/admin/bwlimit`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const bw = async (svc: InProcessService): Promise<Record<string, unknown>> => await (await admin(svc, 'GET')).json() as Record<string, unknown>;
  const ready = async (svc: InProcessService): Promise<{ status: number; body: { status: string; checks: Record<string, { ok: boolean; message: string }> } }> => {
    const res = await fetch(`${svc.baseUrl}/readyz`);
    return { status: res.status, body: await res.json() as { status: string; checks: Record<string, { ok: boolean; message: string }> } };
  };
  const metric = async (svc: InProcessService, name: string, labels: Record<string, string> = {}): Promise<number | undefined> =>
    sampleValue(parseExposition(await (await fetch(`${svc.baseUrl}/metrics`)).text()), name, labels);

  beforeAll(async () => {
    redis = await startTestRedis();
    s3 = await startTestS3();
    const env = { ADMIN_TOKEN, UPLOAD_BWLIMIT: '4MB', BUDGET_BACKEND: 'redis', REDIS_URL: redis.url, GATEWAY_COUNT: '2', SPOOL_MIN_FREE_BYTES: '0' };
    a = await startInProcess(s3, env);
    b = await startInProcess(s3, env);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await s3?.close();
    await redis?.stop();
  });

  it('shows the shared budget in /readyz, /metrics and GET /admin/bwlimit', async () => {
    expect(await ready(a)).toEqual({ status: 200, body: { status: 'ready', failed: [], checks: expect.objectContaining({ budget: { ok: true, message: 'shared (redis)' } }) } });
    expect(await bw(a)).toMatchObject({
      rate_bytes_per_sec: CAP, limited_by: 'cap', source: 'schedule', override: null,
      budget: { backend: 'redis', mode: 'shared', gateways: 2, redis: redis.url, lease_ms: 30 },
    });
    expect(await metric(a, 'image_spool_budget_mode', { mode: 'shared' })).toBe(1);
    expect(await metric(a, 'image_spool_budget_mode', { mode: 'local' })).toBe(0);
    expect(await metric(a, 'image_spool_budget_fallback')).toBe(0);
  });

  it('an override PUT on one gateway is in force on the other within a second; clearing it on the other too', async () => {
    const put = await admin(a, 'PUT', { rate: '16Mbit' });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({ rate_bytes_per_sec: 2_000_000, source: 'override', override: '16Mbit' });
    const t0 = performance.now();
    await waitFor(async () => ((await bw(b))['rate_bytes_per_sec'] === 2_000_000 ? true : undefined), 2000, 'the override on gateway B');
    const reachedMs = performance.now() - t0;
    console.log(`shared budget: an override PUT on gateway A was in force on gateway B after ${reachedMs.toFixed(0)} ms`);
    expect(reachedMs).toBeLessThan(1000);
    expect(await bw(b)).toMatchObject({ source: 'override', override: '16Mbit', configured_rate_bytes_per_sec: 2_000_000 });
    expect(b.service.throttle.rate).toBe(2_000_000);
    expect((await admin(b, 'PUT', { rate: null })).status).toBe(200);
    await waitFor(async () => ((await bw(a))['override'] === null ? true : undefined), 1000, 'gateway A back on the timetable');
    expect(a.service.throttle.rate).toBe(CAP);
  });

  it('without Redis: still ready, cap / GATEWAY_COUNT each, the override refused with 503; after a restart the last override comes back', async () => {
    expect((await admin(a, 'PUT', { rate: '3MB' })).status).toBe(200);
    await waitFor(async () => ((await bw(b))['override'] === '3MB' ? true : undefined), 1000, 'the override on gateway B');
    await redis.kill();
    await waitFor(async () => ((await ready(b)).body.checks['budget']?.message === 'local fallback (redis unreachable)' ? true : undefined), 3000, 'fallback on gateway B');
    const refused = await admin(a, 'PUT', { rate: '1MB' });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'budget_unavailable', message: expect.stringContaining(`Redis at redis://127.0.0.1:${redis.port}`) } });
    for (const svc of [a, b]) {
      expect(await ready(svc)).toMatchObject({ status: 200, body: { status: 'ready', checks: { budget: { ok: true, message: 'local fallback (redis unreachable)' } } } });
      // The last override seen stays the cap; each gateway takes half of it.
      expect(await bw(svc)).toMatchObject({ rate_bytes_per_sec: 1_500_000, configured_rate_bytes_per_sec: 3_000_000, limited_by: 'budget_fallback', override: '3MB', budget: { mode: 'fallback' } });
      expect(await metric(svc, 'image_spool_budget_fallback')).toBe(1);
      expect(await metric(svc, 'image_spool_egress_cap_bytes_per_second')).toBe(1_500_000);
    }
    // Redis comes back empty (no persistence): the gateways put back the override they last saw.
    await redis.restart();
    for (const svc of [a, b]) {
      await waitFor(async () => ((await ready(svc)).body.checks['budget']?.message === 'shared (redis)' ? true : undefined), 5000, 'shared mode again');
      expect(await bw(svc)).toMatchObject({ rate_bytes_per_sec: 3_000_000, limited_by: 'cap', override: '3MB', budget: { mode: 'shared' } });
    }
    expect(await redis.command('HGET image-spool:budget override_text')).toBe('$3\r\n3MB\r\n');
  });
});
