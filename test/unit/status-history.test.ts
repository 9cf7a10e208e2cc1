import { describe, expect, it } from 'vitest';
import { costBounded } from '../../src/status/cost-bounded.js';
import { StatusHistory, type Readings } from '../../src/status/history.js';
import { Ring } from '../../src/status/ring.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** Readings the test changes by hand; egress grows by `egressPerTick` at every read. */
function fakeReadings(): { read: () => Readings; now: Readings; reads: number } {
  const state = {
    now: { backlogImages: 0, backlogBytes: 0, egressBytesTotal: 0, capBytesPerSec: 1_250_000 } as Readings,
    reads: 0,
    read: (): Readings => {
      state.reads++;
      return { ...state.now };
    },
  };
  return state;
}

describe('Ring', () => {
  it('keeps the last `capacity` items, oldest first', () => {
    const ring = new Ring<number>(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.newest()).toBeUndefined();
    for (let i = 1; i <= 7; i++) ring.push(i);
    expect(ring.toArray()).toEqual([5, 6, 7]);
    expect(ring.size).toBe(3);
    expect(ring.newest()).toBe(7);
    expect(() => new Ring(0)).toThrow(/positive integer, got 0/);
  });
});

describe('StatusHistory', () => {
  it('samples at start and every interval, with egress as the average rate between samples', async () => {
    const clock = new FakeClock();
    await clock.advance(1_700_000_000_000); // a plausible wall time
    const r = fakeReadings();
    const history = new StatusHistory({ read: r.read, clock, intervalMs: 10_000, capacity: 360 });
    history.start();
    expect(history.samples()).toEqual([
      { at: new Date(1_700_000_000_000).toISOString(), backlog_images: 0, backlog_bytes: 0, egress_bytes_per_sec: null, cap_bytes_per_sec: 1_250_000 },
    ]);
    r.now = { backlogImages: 12, backlogBytes: 48_000_000, egressBytesTotal: 5_000_000, capBytesPerSec: Infinity };
    await clock.advance(10_000);
    const [, second] = history.samples();
    expect(second).toEqual({
      at: new Date(1_700_000_010_000).toISOString(), backlog_images: 12, backlog_bytes: 48_000_000,
      egress_bytes_per_sec: 500_000, // 5 MB in 10 s
      cap_bytes_per_sec: null, // unlimited
    });
    history.stop();
  });

  it('holds one hour (360 samples at 10 s) in a ring: the oldest drop out, order is kept', async () => {
    const clock = new FakeClock();
    const r = fakeReadings();
    const history = new StatusHistory({ read: r.read, clock });
    history.start();
    for (let i = 1; i <= 400; i++) {
      r.now = { ...r.now, backlogImages: i, egressBytesTotal: i * 10_000 };
      await clock.advance(10_000);
    }
    const samples = history.samples();
    expect(samples).toHaveLength(360);
    expect(samples[0]?.backlog_images).toBe(41); // 401 samples taken (0..400), the first 41 dropped
    expect(samples.at(-1)?.backlog_images).toBe(400);
    expect(samples.at(-1)?.at).toBe(new Date(4_000_000).toISOString());
    expect(samples.every((s, i) => i === 0 || Date.parse(s.at) - Date.parse(samples[i - 1]?.at ?? '') === 10_000)).toBe(true);
    expect(samples.every((s) => s.egress_bytes_per_sec === 1000)).toBe(true);
    history.stop();
  });

  it('stops sampling after stop(), and a failing read leaves a gap instead of stopping the sampler', async () => {
    const clock = new FakeClock();
    const r = fakeReadings();
    let fail = false;
    const history = new StatusHistory({ read: () => { if (fail) throw new Error('SQLITE_BUSY'); return r.read(); }, clock, intervalMs: 1000 });
    history.start();
    await clock.advance(1000);
    fail = true;
    await clock.advance(2000);
    fail = false;
    await clock.advance(1000);
    expect(history.samples().map((s) => Date.parse(s.at))).toEqual([0, 1000, 4000]);
    history.stop();
    await clock.advance(10_000);
    expect(history.samples()).toHaveLength(3);
    expect(r.reads).toBe(3);
  });

  it('current(): a reading now, not stored, its egress averaged over at least 5 s', async () => {
    const clock = new FakeClock();
    const r = fakeReadings();
    const history = new StatusHistory({ read: r.read, clock, intervalMs: 10_000 });
    history.start(); // t=0, egress 0
    r.now = { ...r.now, egressBytesTotal: 1_000_000 };
    await clock.advance(10_000); // t=10 s, egress 1 MB
    r.now = { ...r.now, egressBytesTotal: 1_100_000 };
    await clock.advance(1000); // t=11 s: the last sample is 1 s old, so the rate is taken from t=0
    expect(history.current().egress_bytes_per_sec).toBe(100_000); // 1.1 MB / 11 s
    await clock.advance(5000); // t=16 s: the t=10 s sample is 6 s old
    expect(history.current().egress_bytes_per_sec).toBe(16_667); // 0.1 MB / 6 s
    expect(history.samples()).toHaveLength(2);
    history.stop();
  });
});

describe('costBounded', () => {
  it('reruns a read no sooner than its cost / share, and not sooner than minIntervalMs', () => {
    let t = 0;
    let cost = 5;
    let runs = 0;
    const read = costBounded(() => { runs++; t += cost; return runs; }, { share: 0.01, minIntervalMs: 1000, now: () => t });
    expect(read().value).toBe(1); // took 5 ms: fresh for max(1000, 500) ms
    t = 999;
    expect(read().value).toBe(1);
    t = 1000;
    cost = 85;
    expect(read()).toEqual({ value: 2, computedAtMs: 1000 }); // took 85 ms: fresh for 8.5 s
    t = 1000 + 8499;
    expect(read().value).toBe(2);
    t = 1000 + 8500;
    expect(read().value).toBe(3);
    expect(runs).toBe(3);
  });
});
