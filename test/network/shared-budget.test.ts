/**
 * Several gateways, one uplink (issue 8): three gateway processes with BUDGET_BACKEND=redis share one
 * UPLOAD_BWLIMIT through one redis-server; every byte they send to S3 passes one byte-meter proxy
 * (bench/byte-meter-proxy.ts), which measures the site's egress in 1 s windows. Then Redis is killed
 * mid-run and restarted on the same port. Skipped, with the reason printed, without redis-server.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { gridWindows, type MeterProxy, type Samples } from '../../bench/byte-meter-proxy.js';
import { Cleanup, postImage, startS3, startService, type BenchS3, type ServiceChild } from '../../bench/harness.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';
import { redisServerMissing, startTestRedis, type TestRedis } from '../helpers/redis.js';

const missing = redisServerMissing();
if (missing) console.warn(`SKIPPED shared budget (three gateways): ${missing}`);

// The meter runs its proxy in a worker thread, which loads its own module file: the built one (`npm test`
// builds first, as it does for the gateways' bin/image-spool.cjs), since a worker cannot load TypeScript.
type Meter = typeof import('../../bench/byte-meter-proxy.js');
const meter = missing ? null : await import(new URL('../../dist/bench/byte-meter-proxy.js', import.meta.url).href) as Meter;

const CAP = 5_000_000; // UPLOAD_BWLIMIT=5MB for the site: loopback and two cores carry it with room to spare
const IMAGE_BYTES = 2_000_000;
/** Each gateway with a backlog is kept at least this many images (8 MB: >1.5 s at the whole cap) ahead of its uploads. */
const BACKLOG_IMAGES = 4;

interface Gateway {
  name: string;
  child: ServiceChild;
  posted: number;
  feeding: boolean;
}

/** Distinct bytes per image (a shared buffer with a unique header): identical bytes would be deduplicated. */
const base = randomBytes(IMAGE_BYTES);
base.set([0xff, 0xd8, 0xff, 0xe0], 0);
function uniqueImage(): Buffer {
  const image = Buffer.from(base);
  randomBytes(16).copy(image, 4);
  return image;
}

/** Keeps every feeding gateway BACKLOG_IMAGES ahead of its uploads, until stopped. */
function startFeeder(gateways: Gateway[]): () => Promise<void> {
  let running = true;
  const loops = gateways.map(async (g) => {
    while (running) {
      if (g.feeding && g.posted - g.child.uploaded() < BACKLOG_IMAGES) {
        const { status } = await postImage(g.child.baseUrl, `${g.name}-cam`, [uniqueImage()]);
        if (status !== 202) throw new Error(`${g.name} answered ${status}:\n${g.child.logTail(20)}`);
        g.posted++;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

async function metrics(g: Gateway): Promise<ReturnType<typeof parseExposition>> {
  const res = await fetch(`${g.child.baseUrl}/metrics`);
  return parseExposition(await res.text());
}

async function readiness(g: Gateway): Promise<{ status: string; checks: Record<string, { ok: boolean; message: string }> }> {
  const res = await fetch(`${g.child.baseUrl}/readyz`);
  return await res.json() as { status: string; checks: Record<string, { ok: boolean; message: string }> };
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return performance.now() - started;
}

/** Records egress for `ms` (the interval is the measurement, not a wait for something). */
async function record(proxy: MeterProxy, ms: number): Promise<Samples> {
  await proxy.take(); // drop what came before
  await new Promise((resolve) => setTimeout(resolve, ms));
  return proxy.take();
}

interface Windows {
  /** Full 1 s windows on a grid from the first byte, as fractions of the cap. */
  shares: number[];
  mean: number;
  max: number;
}

function windows(samples: Samples): Windows {
  const shares = gridWindows(samples, 1000).windows.map((bytes) => bytes / CAP);
  return { shares, mean: shares.reduce((a, b) => a + b, 0) / shares.length, max: Math.max(...shares) };
}

const show = (w: Windows): string => `mean ${w.mean.toFixed(3)}, max ${w.max.toFixed(3)} [${w.shares.map((s) => s.toFixed(2)).join(' ')}]`;

interface Counters { calls: number; grants: number; leased: number; rttSum: number; rttCount: number; egress: number }

/** Per gateway: lease calls and grants, leased bytes, the lease round trips (s) and egress bytes, from /metrics. */
async function leaseCounters(g: Gateway): Promise<Counters> {
  const m = await metrics(g);
  const calls = ['granted', 'empty', 'error'].reduce((n, result) => n + (sampleValue(m, 'image_spool_budget_lease_requests_total', { result }) ?? 0), 0);
  return {
    calls,
    grants: sampleValue(m, 'image_spool_budget_lease_requests_total', { result: 'granted' }) ?? 0,
    leased: sampleValue(m, 'image_spool_budget_leased_bytes_total') ?? 0,
    rttSum: sampleValue(m, 'image_spool_budget_lease_duration_seconds_sum') ?? 0,
    rttCount: sampleValue(m, 'image_spool_budget_lease_duration_seconds_count') ?? 0,
    egress: sampleValue(m, 'image_spool_egress_bytes_total') ?? 0,
  };
}

/** What one gateway did between two readings: its share of the cap, its load on Redis, its leases. */
function perGateway(before: Counters, after: Counters, seconds: number): string {
  const d = (k: keyof Counters): number => after[k] - before[k];
  return `${(d('egress') / (CAP * seconds)).toFixed(2)} x cap, ${(d('calls') / seconds).toFixed(0)} Redis calls/s, ` +
    `mean lease ${(d('leased') / Math.max(1, d('grants')) / 1000).toFixed(0)} kB, lease RTT ${((d('rttSum') / Math.max(1, d('rttCount'))) * 1000).toFixed(2)} ms`;
}

describe.skipIf(missing !== null)('three gateways, one Redis, one uplink cap', () => {
  const cleanup = new Cleanup();
  afterAll(() => cleanup.run());

  it('shares the cap (>= 0.95 together, every 1 s <= 1.05), lets one gateway alone fill it (>= 0.9), and survives Redis dying', async () => {
    const redis: TestRedis = await startTestRedis();
    cleanup.add(() => redis.stop());
    const s3: BenchS3 = await startS3(cleanup);
    const proxy = await (meter as Meter).startMeterProxy(s3.port);
    cleanup.add(() => proxy.close());
    const gateways: Gateway[] = await Promise.all(['gw0', 'gw1', 'gw2'].map(async (name) => ({
      name, posted: 0, feeding: false,
      child: await startService(cleanup, {
        S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`, S3_PREFIX: name,
        UPLOAD_BWLIMIT: '5MB', BUDGET_BACKEND: 'redis', REDIS_URL: redis.url, GATEWAY_COUNT: '3',
        SPOOL_MIN_FREE_BYTES: '0',
      }),
    })));
    const [gw0, gw1, gw2] = gateways as [Gateway, Gateway, Gateway];
    for (const g of gateways) expect((await readiness(g)).checks['budget']).toEqual({ ok: true, message: 'shared (redis)' });
    const stopFeeding = startFeeder(gateways);
    cleanup.add(stopFeeding);

    // 1. Only gw0 has a backlog: it alone fills the cap; the idle gateways hold nothing.
    gw0.feeding = true;
    await until('gw0 uploading', 20_000, () => gw0.child.uploaded() >= 2);
    const aloneBefore = await Promise.all(gateways.map(leaseCounters));
    const ta = performance.now();
    const alone = windows(await record(proxy, 6000));
    const aloneSeconds = (performance.now() - ta) / 1000;
    const aloneAfter = await Promise.all(gateways.map(leaseCounters));
    console.log(`shared budget, gw0 alone: ${show(alone)}; gw0: ${perGateway(aloneBefore[0] as Counters, aloneAfter[0] as Counters, aloneSeconds)}; ` +
      `idle gw1, gw2: ${[1, 2].map((i) => `${(((aloneAfter[i] as Counters).calls - (aloneBefore[i] as Counters).calls) / aloneSeconds).toFixed(1)} Redis calls/s`).join(', ')}`);
    expect(alone.shares.length).toBeGreaterThanOrEqual(5);
    expect(alone.mean).toBeGreaterThanOrEqual(0.9);
    expect(alone.max).toBeLessThanOrEqual(1.05);
    for (const i of [1, 2]) expect((aloneAfter[i] as Counters).egress).toBe((aloneBefore[i] as Counters).egress);

    // 2. All three have backlogs: together they keep to the one cap, and fill it.
    gw1.feeding = true;
    gw2.feeding = true;
    await until('gw1 and gw2 uploading', 20_000, () => gw1.child.uploaded() >= 1 && gw2.child.uploaded() >= 1);
    const before = await Promise.all(gateways.map(leaseCounters));
    const t0 = performance.now();
    const all = windows(await record(proxy, 10_000));
    const seconds = (performance.now() - t0) / 1000;
    const after = await Promise.all(gateways.map(leaseCounters));
    console.log(`shared budget, all three: ${show(all)}; ${after.map((c, i) => `gw${i} ${perGateway(before[i] as Counters, c, seconds)}`).join('; ')}`);
    expect(all.shares.length).toBeGreaterThanOrEqual(8);
    expect(all.mean).toBeGreaterThanOrEqual(0.95);
    expect(all.max).toBeLessThanOrEqual(1.05);
    for (const g of gateways) expect(g.posted - g.child.uploaded()).toBeGreaterThan(0); // the backlogs never ran dry
    after.forEach((c, i) => expect((c.egress - (before[i] as Counters).egress) / (CAP * seconds)).toBeGreaterThan(0.1)); // each got a real share

    // 3. Redis dies mid-run: every gateway falls back to cap / 3 at once, uploads go on, the sum stays under the cap.
    await proxy.take();
    const uploadedAtKill = gateways.map((g) => g.child.uploaded());
    await redis.kill();
    const detectMs = await until('fallback on every gateway', 3000, async () =>
      (await Promise.all(gateways.map(readiness))).every((r) => r.status === 'ready' && r.checks['budget']?.message === 'local fallback (redis unreachable)'));
    for (const g of gateways) {
      const m = await metrics(g);
      expect(sampleValue(m, 'image_spool_budget_fallback')).toBe(1);
      expect(sampleValue(m, 'image_spool_budget_mode', { mode: 'fallback' })).toBe(1);
      expect(sampleValue(m, 'image_spool_egress_cap_bytes_per_second')).toBeCloseTo(CAP / 3, 3);
    }
    await new Promise((resolve) => setTimeout(resolve, 5000 - detectMs)); // ~5 s without Redis (measured below)
    const down = windows(await proxy.take());
    gateways.forEach((g, i) => expect(g.child.uploaded()).toBeGreaterThan(uploadedAtKill[i] as number));
    console.log(`shared budget, Redis killed (every gateway local after ${detectMs.toFixed(0)} ms): ${show(down)}`);
    expect(down.max).toBeLessThanOrEqual(1.05);
    expect(down.mean).toBeGreaterThanOrEqual(0.8); // three backlogs at cap / 3 each

    // 4. Redis is back (same port, empty): the shared budget resumes.
    await redis.restart();
    const resumeMs = await until('shared mode on every gateway', 5000, async () =>
      (await Promise.all(gateways.map(readiness))).every((r) => r.checks['budget']?.message === 'shared (redis)'));
    const transition = windows(await proxy.take());
    const resumed = windows(await record(proxy, 4000));
    console.log(`shared budget, Redis restarted (every gateway shared after ${resumeMs.toFixed(0)} ms): transition ${show(transition)}; resumed ${show(resumed)}`);
    expect(transition.max).toBeLessThanOrEqual(1.05);
    expect(resumed.max).toBeLessThanOrEqual(1.05);
    expect(resumed.mean).toBeGreaterThanOrEqual(0.9);
    for (const g of gateways) expect(sampleValue(await metrics(g), 'image_spool_budget_fallback')).toBe(0);

    // Nothing lost: every image posted to any gateway ends up in S3 once the backlogs drain.
    await stopFeeding();
    await until('every backlog drained', 60_000, () => gateways.every((g) => g.child.uploaded() >= g.posted));
    for (const g of gateways) expect((await s3.list(`${g.name}/`)).length).toBe(g.posted);
  }, 120_000);
});
