/**
 * The shared budget's gate and its fallback switch: token buckets fed by leases from a real redis-server
 * started here, which the tests kill, hang (SIGSTOP) and restart on the same port. Skipped, with the
 * reason printed, where redis-server is not installed.
 */
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { serviceStatus } from '../../src/admin/status.js';
import type { StatusSnapshot } from '../../src/api/schemas/admin.js';
import { RedisBudgetStore } from '../../src/budget/redis-store.js';
import { SharedBudget } from '../../src/budget/shared-budget.js';
import { formatStatus } from '../../src/cli/status-format.js';
import { isSpoolError } from '../../src/errors.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { migrate } from '../../src/ledger/migrate.js';
import { SettingsStore } from '../../src/ledger/settings.js';
import { BandwidthController } from '../../src/throttle/bandwidth-controller.js';
import { EgressMeter } from '../../src/throttle/egress-meter.js';
import { activeEntry, parseSchedule } from '../../src/throttle/schedule.js';
import { TokenBucket } from '../../src/throttle/token-bucket.js';
import { waitFor } from '../helpers/in-process.js';
import { redisServerMissing, startTestRedis, type TestRedis } from '../helpers/redis.js';

const missing = redisServerMissing();
if (missing) console.warn(`SKIPPED shared budget: ${missing}`);

const CAP = 2_000_000; // UPLOAD_BWLIMIT=2MB

interface Gateway {
  budget: SharedBudget;
  bucket: TokenBucket;
  controller: BandwidthController;
  logs: Array<{ level: number; msg: string }>;
  close(): Promise<void>;
}

/** One gateway's throttle as src/main.ts wires it: store -> shared budget -> token bucket -> controller. */
async function gateway(url: string, key: string, gatewayCount = 3): Promise<Gateway> {
  const logs: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const schedule = parseSchedule('2MB');
  const budget = new SharedBudget({
    store: new RedisBudgetStore({ url, key }), gatewayCount, log, syncMs: 100,
    timetable: () => activeEntry(schedule, new Date()).rate, scheduleText: schedule.text,
  });
  const bucket = new TokenBucket({ rate: Infinity, burstMs: 5, gate: budget });
  await budget.start();
  const db = new Database(':memory:');
  migrate(db);
  const controller = new BandwidthController(bucket, schedule, new SettingsStore(db), log, null, undefined, budget);
  controller.start();
  return {
    budget, bucket, controller, logs,
    async close() {
      controller.stop();
      await budget.stop();
      db.close();
    },
  };
}

/** The service's status snapshot for this gateway's controller, over an empty ledger. */
async function fallbackStatus(g: Gateway): Promise<StatusSnapshot> {
  const db = new Database(':memory:');
  migrate(db);
  try {
    const config = { spoolDir: tmpdir(), keepUploadedFiles: false, spoolMaxBytes: Infinity, ledgerWalMaxBytes: 64 * 1024 * 1024 };
    return await serviceStatus({ ledger: new ImageLedger(db), bandwidth: g.controller, egress: new EgressMeter(() => 0), config, wal: { pinned: null } })();
  } finally {
    db.close();
  }
}

/** Takes chunks as an upload stream does, until stopped; counts what was granted. */
function sender(g: Gateway): { bytes: () => number; stop: () => Promise<void> } {
  let bytes = 0;
  let running = true;
  const done = (async () => {
    while (running) {
      await g.bucket.take(g.bucket.chunkBytes);
      bytes += g.bucket.chunkBytes;
    }
  })();
  return { bytes: () => bytes, stop: async () => { running = false; await done; } };
}

/** Bytes the senders get over `ms` of wall time (measured, not slept: the interval is the measurement). */
async function measure(senders: Array<{ bytes: () => number }>, ms: number): Promise<{ bytes: number[]; seconds: number }> {
  const before = senders.map((s) => s.bytes());
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const seconds = (performance.now() - t0) / 1000;
  return { bytes: senders.map((s, i) => s.bytes() - (before[i] as number)), seconds };
}

const warnings = (g: Gateway, text: string): number => g.logs.filter((l) => l.level === 40 && l.msg.includes(text)).length;

describe.skipIf(missing !== null)('shared budget: leases from Redis, and the local fallback', () => {
  let redis: TestRedis;
  let keys = 0;
  const open: Gateway[] = [];
  const start = async (gatewayCount = 3, key = `test:shared:${++keys}`): Promise<Gateway> => {
    const g = await gateway(redis.url, key, gatewayCount);
    open.push(g);
    return g;
  };
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterEach(async () => {
    for (const g of open.splice(0)) await g.close();
    await redis.restart(); // every test starts with a running, empty Redis
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('one gateway alone fills the cap; two together share it and stay within it', async () => {
    const key = `test:shared:${++keys}`;
    const a = await start(3, key);
    expect(a.budget.mode).toBe('shared');
    expect(a.bucket.rate).toBe(CAP); // shared: each gateway paces at the whole cap, leases decide who sends
    const sa = sender(a);
    await waitFor(() => (sa.bytes() > 100_000 ? true : undefined), 5000, 'the first leases'); // past start-up (script load, JIT)
    const alone = await measure([sa], 1500);
    const b = await start(3, key);
    const sb = sender(b);
    const both = await measure([sa, sb], 3000);
    await Promise.all([sa.stop(), sb.stop()]);
    const stats = a.budget.stats();
    const aloneShare = (alone.bytes[0] as number) / (CAP * alone.seconds);
    const sum = both.bytes.reduce((x, y) => x + y, 0) / (CAP * both.seconds);
    console.log(`shared budget: alone ${aloneShare.toFixed(3)} x cap; two gateways ${sum.toFixed(3)} x cap (${both.bytes.map((x) => (x / (CAP * both.seconds)).toFixed(2)).join(' + ')}); gateway A: ${stats.grants + stats.empty} lease calls, mean RTT ${(stats.leaseRttMsTotal / (stats.grants + stats.empty)).toFixed(2)} ms`);
    expect(aloneShare).toBeGreaterThanOrEqual(0.9);
    expect(aloneShare).toBeLessThanOrEqual(1.05);
    expect(sum).toBeGreaterThanOrEqual(0.9);
    // The bound for any window T, any number of gateways: rate x (T + lease expiry 50 ms + RTT) + burst 30 ms
    // (docs/SCALING.md). This window starts just as B joins, with A holding its leases: 1.01-1.03 over 1 s here.
    expect(sum * both.seconds).toBeLessThanOrEqual(both.seconds + 0.05 + 0.005 + 0.03);
    // Both get a fair share: the first gateway refused holds the next bytes (src/budget/lease-script.ts).
    // Before that hold, a loaded CI run gave 1.00 + 0.00 over these 3 s; with it, 0.50 + 0.51 here.
    for (const x of both.bytes) expect(x / (CAP * both.seconds)).toBeGreaterThan(0.3);
  });

  it('Redis killed: falls back at once to cap / GATEWAY_COUNT, logs it once, keeps sending; back to shared when Redis returns', async () => {
    const g = await start(3);
    const s = sender(g);
    await waitFor(() => (s.bytes() > 100_000 ? true : undefined), 5000, 'bytes in shared mode');
    await redis.kill();
    await waitFor(() => (g.budget.mode === 'fallback' ? true : undefined), 1000, 'fallback');
    expect(g.bucket.rate).toBeCloseTo(CAP / 3, 6);
    expect(g.controller.state()).toMatchObject({ limited_by: 'budget_fallback', configured_rate_bytes_per_sec: CAP, budget: { mode: 'fallback', gateways: 3 } });
    // `image-spool status` and /admin/status say the same as /admin/bwlimit, not 'uplink_share'.
    const status = await fallbackStatus(g);
    expect(status.cap).toMatchObject({ limited_by: 'budget_fallback', configured_rate_bytes_per_sec: CAP });
    expect(formatStatus(status, 'http://gw')).toMatch(/Redis is unreachable, so this gateway takes cap \/ GATEWAY_COUNT/);
    const fallback = await measure([s], 1000); // several failed syncs happen meanwhile (every 100 ms)
    const share = (fallback.bytes[0] as number) / ((CAP / 3) * fallback.seconds);
    expect(share).toBeGreaterThanOrEqual(0.9);
    expect(share).toBeLessThanOrEqual(1.05);
    expect(warnings(g, 'shared upload budget unreachable')).toBe(1);
    await redis.restart();
    await waitFor(() => (g.budget.mode === 'shared' ? true : undefined), 3000, 'shared mode again');
    expect(g.bucket.rate).toBe(CAP);
    const shared = await measure([s], 500);
    await s.stop();
    expect((shared.bytes[0] as number) / (CAP * shared.seconds)).toBeGreaterThanOrEqual(0.8);
    expect(g.logs.filter((l) => l.msg.includes('shared upload budget reachable')).length).toBe(2); // at start, and now
  });

  it('a hung Redis (SIGSTOP) counts as down after the 200 ms command timeout; SIGCONT brings the shared budget back', async () => {
    const g = await start(4);
    const s = sender(g);
    await waitFor(() => (s.bytes() > 50_000 ? true : undefined), 5000, 'bytes in shared mode');
    redis.pause();
    const t0 = performance.now();
    try {
      await waitFor(() => (g.budget.mode === 'fallback' ? true : undefined), 1500, 'fallback');
      const detectedMs = performance.now() - t0;
      expect(detectedMs).toBeLessThan(1000); // the command timeout (200 ms) plus at most one idle sync
      expect(g.bucket.rate).toBe(CAP / 4);
      const before = s.bytes();
      await waitFor(() => (s.bytes() - before > 50_000 ? true : undefined), 2000, 'bytes while Redis hangs');
    } finally {
      redis.resume();
    }
    await waitFor(() => (g.budget.mode === 'shared' ? true : undefined), 3000, 'shared mode again');
    await s.stop();
    expect(warnings(g, 'shared upload budget unreachable')).toBe(1);
  });

  it('starts in fallback without Redis (within ~1 s, never blocking), and joins the shared budget when Redis appears', async () => {
    await redis.kill();
    const t0 = performance.now();
    const g = await start(2);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(g.budget.mode).toBe('fallback');
    expect(g.bucket.rate).toBe(CAP / 2);
    await expect(g.bucket.take(1000)).resolves.toBeUndefined();
    await redis.restart();
    await waitFor(() => (g.budget.mode === 'shared' ? true : undefined), 3000, 'shared mode');
    expect(g.bucket.rate).toBe(CAP);
  });

  it('an override set on one gateway reaches the other within a second; without Redis it is refused and nothing changes', async () => {
    const key = `test:shared:${++keys}`;
    const [a, b] = [await start(2, key), await start(2, key)];
    await a.controller.changeOverride('1MB');
    expect(a.bucket.rate).toBe(1_000_000);
    await waitFor(() => (b.bucket.rate === 1_000_000 ? true : undefined), 1000, 'the override on gateway B');
    expect(b.controller.state()).toMatchObject({ source: 'override', override: '1MB', rate_bytes_per_sec: 1_000_000 });
    await b.controller.changeOverride(null);
    await waitFor(() => (a.bucket.rate === CAP ? true : undefined), 1000, 'gateway A back on the timetable');
    await redis.kill();
    const refused = await a.controller.changeOverride('500KB').then(() => null, (err: unknown) => err);
    expect(isSpoolError(refused, 'budget_unavailable')).toBe(true);
    expect(a.budget.mode).toBe('fallback');
    expect(a.controller.state()).toMatchObject({ override: null, rate_bytes_per_sec: CAP / 2 });
  });
});
