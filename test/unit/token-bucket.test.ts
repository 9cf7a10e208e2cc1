import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../src/throttle/token-bucket.js';
import { FakeClock } from '../helpers/fake-clock.js';

const RATE = 1_000_000; // 1 MB/s: capacity 10 ms = 10,000 bytes, chunk 10,000 bytes

/** Keeps `streams` consumers taking `chunk`-byte grants until stopped; records each grant. */
function consumers(bucket: TokenBucket, clock: FakeClock, streams: number, chunk: number) {
  const grants: Array<{ stream: number; at: number; bytes: number }> = [];
  let running = true;
  const loops = Array.from({ length: streams }, async (_, stream) => {
    while (running) {
      await bucket.take(chunk);
      grants.push({ stream, at: clock.now(), bytes: chunk });
    }
  });
  return { grants, stop: () => { running = false; return loops; } };
}

function bytesIn(grants: Array<{ at: number; bytes: number }>, from: number, to: number): number {
  return grants.filter((g) => g.at >= from && g.at < to).reduce((sum, g) => sum + g.bytes, 0);
}

describe('TokenBucket', () => {
  it('grants the configured rate over a long run', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, clock });
    const c = consumers(bucket, clock, 4, 4096);
    await clock.advance(10_000);
    const total = bytesIn(c.grants, 0, 10_001);
    // Exactly rate*T plus at most one bucket of initial burst.
    expect(total).toBeGreaterThanOrEqual(RATE * 10 * 0.99);
    expect(total).toBeLessThanOrEqual(RATE * 10 + bucket.capacity + 4096);
    c.stop();
  });

  it('never grants more than rate*T + capacity in any window', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, clock });
    const c = consumers(bucket, clock, 3, 3000);
    await clock.advance(3000);
    for (let start = 0; start < 2900; start += 7) {
      for (const width of [10, 100, 1000]) {
        expect(bytesIn(c.grants, start, start + width)).toBeLessThanOrEqual((RATE * width) / 1000 + bucket.capacity + 1);
      }
    }
    c.stop();
  });

  it('does not bank tokens while idle: the burst after idle is at most ~10 ms of the rate', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, burstMs: 10, clock });
    await clock.advance(10_000); // idle for 10 s
    const c = consumers(bucket, clock, 2, 1000);
    await clock.advance(0);
    const immediate = bytesIn(c.grants, 0, Infinity);
    expect(immediate).toBeLessThanOrEqual(bucket.capacity);
    expect(bucket.capacity).toBe(10_000);
    await clock.advance(1000);
    // First second after idle: the rate plus the 10 ms burst, never a catch-up of the idle time.
    expect(bytesIn(c.grants, 10_000, 11_000)).toBeLessThanOrEqual(RATE * 1.01 + 1000);
    c.stop();
  });

  it('serves waiting streams fairly (round-robin within one chunk)', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, clock });
    const c = consumers(bucket, clock, 4, 2000);
    await clock.advance(5000);
    const perStream = [0, 1, 2, 3].map((s) => c.grants.filter((g) => g.stream === s).length);
    const max = Math.max(...perStream);
    const min = Math.min(...perStream);
    expect(min).toBeGreaterThan(500);
    expect(max - min).toBeLessThanOrEqual(1);
    c.stop();
  });

  it('applies a live rate change to streams already waiting', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, clock });
    const c = consumers(bucket, clock, 2, 1000);
    await clock.advance(2000);
    bucket.setRate(RATE / 4);
    await clock.advance(2000);
    const before = bytesIn(c.grants, 1000, 2000);
    const after = bytesIn(c.grants, 3000, 4000);
    expect(before).toBeGreaterThan(RATE * 0.98);
    expect(after).toBeGreaterThan((RATE / 4) * 0.97);
    expect(after).toBeLessThan((RATE / 4) * 1.03);
    c.stop();
  });

  it('lets everything through when the rate is off, and throttles again when set', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: Infinity, clock });
    for (let i = 0; i < 1000; i++) await bucket.take(1_000_000);
    expect(bucket.granted).toBe(1e9);
    bucket.setRate(RATE);
    const c = consumers(bucket, clock, 1, 1000);
    await clock.advance(1000);
    expect(bytesIn(c.grants, 0, 1001)).toBeLessThanOrEqual(RATE + bucket.capacity + 1000);
    c.stop();
  });

  it('keeps a burst of one small chunk at very low rates', () => {
    const bucket = new TokenBucket({ rate: 1000, clock: new FakeClock() });
    expect(bucket.capacity).toBe(1024);
    expect(bucket.chunkBytes).toBe(1024);
  });

  it('rejects a waiter whose signal aborts and keeps serving the others', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, clock });
    await bucket.take(10_000); // empty the bucket
    const controller = new AbortController();
    const aborted = bucket.take(10_000, controller.signal);
    const other = bucket.take(10_000);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    let done = false;
    void other.then(() => { done = true; });
    await clock.advance(10);
    expect(done).toBe(true);
    expect(bucket.waiting).toBe(0);
  });

  it('refuses requests larger than one chunk and invalid rates', async () => {
    const bucket = new TokenBucket({ rate: RATE, clock: new FakeClock() });
    await expect(bucket.take(bucket.chunkBytes + 1)).rejects.toThrow(RangeError);
    expect(() => new TokenBucket({ rate: 0 })).toThrow(/positive/);
    expect(() => bucket.setRate(-5)).toThrow(/positive/);
  });
});
