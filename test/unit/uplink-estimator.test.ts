import { describe, expect, it } from 'vitest';
import { UplinkEstimator } from '../../src/throttle/uplink-estimator.js';
import { AutoConcurrency } from '../../src/uploader/concurrency.js';

const CAP = 12_500_000; // 100Mbit configured

/** A simulated path: ordinary uploads wait `baseMs`; a train of N bytes waits `baseMs + N / capacity`. */
function drive(est: UplinkEstimator, clock: { t: number }, capacity: number, seconds: number, baseMs = 60): void {
  for (let s = 0; s < seconds * 4; s++) {
    clock.t += 250;
    est.observe({ leadMs: 1, tailWaitMs: baseMs + 3 * Math.random(), tailBytes: 16_384, train: false });
    const train = est.claimProbe(4_000_000, CAP);
    // The same timing noise on both: the estimate errs low by noise / dispersion (a few percent).
    if (train > 0) est.observe({ leadMs: 1, tailWaitMs: baseMs + 3 * Math.random() + (train / capacity) * 1000, tailBytes: train, train: true });
  }
}

describe('UplinkEstimator', () => {
  it('starts at the share of the configured cap, then follows the probed capacity both ways', () => {
    const clock = { t: 0 };
    const est = new UplinkEstimator({ share: 0.5, now: () => clock.t });
    expect(est.limit(CAP)).toBe(CAP / 2);
    drive(est, clock, 25_000_000, 10); // 200 Mbit link
    expect(est.limit(CAP)).toBeGreaterThanOrEqual(0.9 * CAP); // 50% of ~200 Mbit is about the whole configured cap
    drive(est, clock, 12_500_000, 6); // link drops to 100 Mbit
    expect(est.limit(CAP)).toBeLessThanOrEqual(0.5 * 12_500_000 * 1.03);
    expect(est.limit(CAP)).toBeGreaterThan(0.4 * 12_500_000);
    drive(est, clock, 25_000_000, 6); // and back
    expect(est.limit(CAP)).toBeGreaterThanOrEqual(0.9 * CAP);
    expect(est.limit(CAP)).toBeLessThanOrEqual(CAP);
    expect(est.state(CAP).probes).toBeGreaterThanOrEqual(10);
  });

  it('probes at most one upload at a time, every interval, only with files longer than the train', () => {
    const clock = { t: 0 };
    const est = new UplinkEstimator({ share: 0.5, probeIntervalMs: 2000, now: () => clock.t });
    expect(est.claimProbe(4_000_000, CAP)).toBe(0); // no base delay measured yet
    est.observe({ leadMs: 1, tailWaitMs: 50, tailBytes: 16_384, train: false });
    const train = est.claimProbe(4_000_000, CAP);
    expect(train).toBe(Math.round((CAP / 0.5) * 0.025));
    expect(est.claimProbe(4_000_000, CAP)).toBe(0); // one in flight
    est.abandonProbe();
    expect(est.claimProbe(4_000_000, CAP)).toBe(0); // interval not over
    clock.t += 2000;
    expect(est.claimProbe(train - 1, CAP)).toBe(0); // file too short to carry the train
    expect(est.claimProbe(4_000_000, CAP)).toBe(train);
  });

  it('a queue built by our own traffic lowers the estimate (never raises it)', () => {
    const clock = { t: 0 };
    const est = new UplinkEstimator({ share: 0.5, now: () => clock.t });
    drive(est, clock, 25_000_000, 10);
    const before = est.capacity() as number;
    // 40 ms of standing queue in front of every train: the same link now looks slower.
    for (let i = 0; i < 3; i++) {
      clock.t += 2000;
      const train = est.claimProbe(4_000_000, CAP);
      est.observe({ leadMs: 1, tailWaitMs: 60 + 40 + (train / 25_000_000) * 1000, tailBytes: train, train: true });
    }
    expect(est.capacity() as number).toBeLessThan(before * 0.5);
  });

  it('rejects a share outside (0, 1]', () => {
    expect(() => new UplinkEstimator({ share: 0 })).toThrow(RangeError);
    expect(() => new UplinkEstimator({ share: 1.5 })).toThrow(RangeError);
  });
});

describe('AutoConcurrency', () => {
  it('stays at the minimum for 4 MB images and grows for small images on a far link', () => {
    const big = new AutoConcurrency();
    for (let i = 0; i < 50; i++) big.observe(4_000_000, { leadMs: 62, tailWaitMs: 65, tailBytes: 16_384, train: false });
    expect(big.target(CAP)).toBe(4);
    const small = new AutoConcurrency();
    for (let i = 0; i < 100; i++) small.observe(100_000, { leadMs: 62, tailWaitMs: 65, tailBytes: 16_384, train: false });
    // 12.5 MB/s x ~127 ms / 100 kB = ~16 uploads waiting at any time: run three times that plus two.
    expect(small.target(CAP)).toBeGreaterThanOrEqual(46);
    expect(small.target(CAP)).toBeLessThanOrEqual(52);
    expect(small.target(1_000_000)).toBeLessThan(small.target(CAP));
    for (let i = 0; i < 50; i++) small.observe(10_000, { leadMs: 100, tailWaitMs: 100, tailBytes: 10_000, train: false });
    expect(small.target(CAP)).toBe(64);
  });
});
