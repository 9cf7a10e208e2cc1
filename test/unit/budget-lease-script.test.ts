/**
 * The shared budget's Lua scripts (src/budget/lease-script.ts) through the real store, against a real
 * redis-server started here on 127.0.0.1 (skipped, with the reason printed, where it is not installed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBudgetStore, type LeaseRequest } from '../../src/budget/redis-store.js';
import { redisServerMissing, startTestRedis, type TestRedis } from '../helpers/redis.js';

const missing = redisServerMissing();
if (missing) console.warn(`SKIPPED budget lease script: ${missing}`);

const RATE = 1_000_000;

/** Microseconds of Redis' own clock, the one the script refills by. */
async function redisTime(redis: TestRedis): Promise<number> {
  const reply = await redis.command('TIME');
  const [sec, usec] = [...reply.matchAll(/^\$\d+\r\n(\d+)$/gm)].map((m) => Number(m[1]));
  return (sec as number) * 1e6 + (usec as number);
}

describe.skipIf(missing !== null)('the shared bucket in Redis (Lua)', () => {
  let redis: TestRedis;
  const stores: RedisBudgetStore[] = [];
  let keys = 0;
  /** A store on a fresh key, or on `key` (several clients of one bucket, like several gateways). */
  const open = async (key = `test:budget:${++keys}`): Promise<RedisBudgetStore> => {
    const store = new RedisBudgetStore({ url: redis.url, key });
    await store.connect(1000);
    stores.push(store);
    return store;
  };
  const req = (o: Partial<LeaseRequest> = {}): LeaseRequest => ({ want: 1e9, min: 1, leaseMs: 20, burstMs: 50, scheduleRate: RATE, ...o });
  /** Takes everything there is (a lease that grants below the asked-for minimum of 1 byte ends it). */
  const drain = async (store: RedisBudgetStore): Promise<void> => {
    for (let i = 0; i < 100; i++) if ((await store.lease(req())).granted < RATE * 0.02) return;
    throw new Error('bucket never ran dry');
  };

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await redis?.stop();
  });

  it('starts with one burst, grants at most lease_ms of the rate per call, never more than it holds', async () => {
    const store = await open();
    // Tokens accrue from the first call on, so the bound counts all the time the three calls took.
    const t0 = performance.now();
    const first = await store.lease(req());
    const second = await store.lease(req());
    const third = await store.lease(req());
    const elapsedMs = performance.now() - t0;
    expect(first).toEqual({ granted: 20_000, rate: RATE, waitMs: 0, override: null }); // 20 ms of 1 MB/s
    expect(second.granted).toBe(20_000);
    // 50 ms burst - 40 ms taken = 10 ms left, plus what accrued since the first call.
    expect(third.granted).toBeGreaterThanOrEqual(10_000);
    expect(third.granted).toBeLessThanOrEqual(10_000 + (RATE * (elapsedMs + 5)) / 1000);
  });

  it('refills by elapsed Redis TIME and caps the refill at the burst', async () => {
    const store = await open();
    await drain(store);
    const t0 = await redisTime(redis);
    // Let ~30 ms of Redis time pass (polled against Redis' own clock, no fixed sleep).
    while ((await redisTime(redis)) - t0 < 30_000) await new Promise((resolve) => setTimeout(resolve, 2));
    const t1 = await redisTime(redis);
    const refilled = await store.lease(req({ leaseMs: 1000 }));
    const t2 = await redisTime(redis);
    // Between rate x (time since the drain ended, at least t1 - t0) and rate x (t2 - t0) plus the drain's own tail.
    expect(refilled.granted).toBeGreaterThanOrEqual(Math.floor((RATE * (t1 - t0)) / 1e6));
    expect(refilled.granted).toBeLessThanOrEqual(Math.ceil((RATE * (t2 - t0)) / 1e6) + RATE * 0.02);
    // Idle much longer than the burst: the bucket holds one burst (50 ms), never the whole idle time.
    const t3 = await redisTime(redis);
    while ((await redisTime(redis)) - t3 < 150_000) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await store.lease(req({ leaseMs: 1000 }))).granted).toBe(50_000);
  });

  it('grants nothing below the minimum asked for, and says when that much will have accrued', async () => {
    const store = await open();
    await drain(store);
    const empty = await store.lease(req({ want: 10_000, min: 10_000 }));
    expect(empty.granted).toBe(0);
    expect(empty.waitMs).toBeGreaterThanOrEqual(1);
    expect(empty.waitMs).toBeLessThanOrEqual(10); // 10 kB at 1 MB/s, less what had accrued
    const t0 = await redisTime(redis);
    while ((await redisTime(redis)) - t0 < empty.waitMs * 1000) await new Promise((resolve) => setTimeout(resolve, 1));
    expect((await store.lease(req({ want: 10_000, min: 10_000 }))).granted).toBe(10_000);
  });

  it('the first gateway refused holds the next `min` bytes: a greedy one cannot starve it; the hold lapses if it never returns', async () => {
    const key = `test:budget:${++keys}`;
    const [greedy, waiting] = [await open(key), await open(key)] as [RedisBudgetStore, RedisBudgetStore];
    await drain(greedy);
    const refused = await waiting.lease(req({ want: 10_000, min: 10_000 }));
    expect(refused.granted).toBe(0);
    // The greedy gateway asks for any byte at all, as fast as it can, until the waiting one's time is up:
    // without the reservation it takes every byte as it accrues, and the waiting one gets nothing.
    const t0 = await redisTime(redis);
    let greedyGot = 0;
    while ((await redisTime(redis)) - t0 < refused.waitMs * 1000) greedyGot += (await greedy.lease(req({ min: 1 }))).granted;
    const served = await waiting.lease(req({ want: 10_000, min: 10_000 }));
    expect(served.granted).toBe(10_000);
    const t1 = await redisTime(redis);
    // The greedy one still had everything above the reservation, and never more than rate x time.
    expect(greedyGot).toBeLessThanOrEqual((RATE * (t1 - t0)) / 1e6);
    // A holder that never comes back: after its wait plus the slack (50 ms) the others take everything again.
    await drain(greedy);
    const gone = await waiting.lease(req({ want: 10_000, min: 10_000 }));
    expect(gone.granted).toBe(0);
    expect((await greedy.lease(req({ min: 10_000 }))).granted).toBe(0); // held for the waiting one
    const t2 = await redisTime(redis);
    while ((await redisTime(redis)) - t2 < (gone.waitMs + 60) * 1000) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await greedy.lease(req({ min: 10_000 }))).granted).toBeGreaterThanOrEqual(10_000);
  });

  it('never grants more than rate x time + one burst, with four clients taking as fast as they can', async () => {
    const key = `test:budget:${++keys}`;
    const shared = await Promise.all([1, 2, 3, 4].map(() => open(key)));
    const rate = 2_000_000;
    const r = req({ want: 16_384, min: 1, scheduleRate: rate });
    const start = await redisTime(redis);
    let granted = 0;
    let calls = 0;
    await Promise.all(shared.map(async (store) => {
      while ((await redisTime(redis)) - start < 500_000) {
        // Read after the await: `granted += await ...` would add to a stale total (four loops interleave).
        const { granted: g } = await store.lease(r);
        granted += g;
        calls++;
      }
    }));
    const end = await redisTime(redis);
    const allowed = (rate * (end - start)) / 1e6 + rate * 0.05; // burst 50 ms
    console.log(`budget lease script: 4 clients, ${calls} calls in ${((end - start) / 1000).toFixed(0)} ms, granted ${(granted / allowed).toFixed(3)} of rate x time + burst`);
    expect(granted).toBeLessThanOrEqual(allowed);
    expect(granted).toBeGreaterThanOrEqual(0.9 * allowed);
  });

  it('the stored override wins over the timetable rate; "off" grants what is asked; clearing returns to the timetable', async () => {
    const store = await open();
    await store.setOverride({ rate: 2_000_000, text: '2MB' });
    expect(await store.lease(req({ want: 1000 }))).toMatchObject({ granted: 1000, rate: 2_000_000, override: '2MB' });
    await store.setOverride({ rate: Infinity, text: 'off' });
    expect(await store.lease(req({ want: 5e8 }))).toEqual({ granted: 5e8, rate: Infinity, waitMs: 0, override: 'off' });
    await store.setOverride(null);
    expect(await store.lease(req({ want: 1000 }))).toMatchObject({ granted: 1000, rate: RATE, override: null });
    // The timetable rate comes from the caller: every gateway computes the same from the same UPLOAD_BWLIMIT.
    expect((await store.lease(req({ want: 1000, scheduleRate: Infinity }))).rate).toBe(Infinity);
  });

  it('sync publishes the timetable, names a different one, and restores an override only into a fresh Redis', async () => {
    const key = `test:budget:${++keys}`;
    const [a, b] = [await open(key), await open(key)];
    // A fresh hash: the last override this gateway saw comes back (Redis restarted without persistence).
    expect(await a.sync({ rate: 5e6, text: '5MB' }, { rate: 2e6, text: '2MB' })).toEqual({ override: '2MB', otherSchedule: null });
    expect((await a.lease(req({ want: 1 }))).rate).toBe(2e6);
    // Initialized: another gateway's stale memory does not overwrite what is there.
    expect(await b.sync({ rate: 6e6, text: '6MB' }, { rate: 3e6, text: '3MB' })).toEqual({ override: '2MB', otherSchedule: '5MB' });
    await a.setOverride(null);
    expect(await b.sync({ rate: 6e6, text: '6MB' }, { rate: 3e6, text: '3MB' })).toEqual({ override: null, otherSchedule: null });
    expect(await a.sync({ rate: 5e6, text: '5MB' }, null)).toEqual({ override: null, otherSchedule: '6MB' });
  });

  it('loads its scripts again after Redis forgot them (SCRIPT FLUSH, as after a restart)', async () => {
    const store = await open();
    expect((await store.lease(req({ want: 100 }))).granted).toBe(100);
    expect(await redis.command('SCRIPT FLUSH')).toBe('+OK\r\n');
    expect((await store.lease(req({ want: 100 }))).granted).toBe(100);
  });
});
