import { describe, expect, it } from 'vitest';
import { EgressMeter } from '../../src/throttle/egress-meter.js';

describe('EgressMeter', () => {
  it('averages the counter over the window, forgets older samples, and reads 0 before any span', () => {
    let now = 0;
    let total = 0;
    const meter = new EgressMeter(() => total, 5000, 1000, () => now);
    meter.sample();
    expect(meter.bytesPerSecond()).toBe(0); // no time has passed
    // 10 s at 1,000 B/s with a sample every second, then 2 s idle.
    for (let s = 1; s <= 10; s++) {
      now = s * 1000;
      total += 1000;
      meter.sample();
    }
    expect(meter.bytesPerSecond()).toBeCloseTo(1000, 6);
    now = 12_000;
    meter.sample();
    // The window now holds 7 s .. 12 s: 3 s of 1,000 B/s and 2 s idle.
    expect(meter.bytesPerSecond()).toBeCloseTo(3000 / 5, 6);
    // A burst since the last sample counts at once (the live total is read).
    total += 10_000;
    expect(meter.bytesPerSecond()).toBeCloseTo(13_000 / 5, 6);
  });

  it('refuses a window shorter than its sampling interval', () => {
    expect(() => new EgressMeter(() => 0, 500, 1000)).toThrow(RangeError);
  });
});
