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

  it('keeps a burst of two small chunks at very low rates', () => {
    const bucket = new TokenBucket({ rate: 1000, clock: new FakeClock() });
    expect(bucket.capacity).toBe(1024);
    expect(bucket.chunkBytes).toBe(512);
  });

  it('loses nothing to late timers: grants are half a bucket, so tokens accrue while a grant waits', async () => {
    // A clock whose timers always fire 2 ms late (a busy event loop), at 1 MB/s with a 5 ms burst.
    const clock = new FakeClock();
    const late = { now: () => clock.now(), clearTimeout: (h: unknown) => clock.clearTimeout(h), setTimeout: (fn: () => void, ms: number) => clock.setTimeout(fn, ms + 2) };
    const bucket = new TokenBucket({ rate: RATE, burstMs: 5, clock: late });
    const c = consumers(bucket, clock, 2, bucket.chunkBytes);
    await clock.advance(10_000);
    expect(bytesIn(c.grants, 0, 10_001) / (RATE * 10)).toBeGreaterThan(0.99);
    c.stop();
  });

  it('rejects a waiter whose signal aborts and keeps serving the others', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, clock });
    const chunk = bucket.chunkBytes;
    await bucket.take(chunk);
    await bucket.take(chunk); // empty the bucket
    const controller = new AbortController();
    const aborted = bucket.take(chunk, controller.signal);
    const other = bucket.take(chunk);
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

describe('TokenBucket.takeTrain (probe trains)', () => {
  it('grants the train whole, with its own length of silence before and after, and keeps every long window under the cap', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ rate: RATE, burstMs: 5, clock });
    const c = consumers(bucket, clock, 3, 1000);
    await clock.advance(1000);
    const TRAIN = 200_000; // 200 ms of the rate
    let trainAt = -1;
    void bucket.takeTrain(TRAIN).then(() => { trainAt = clock.now(); });
    await clock.advance(2000);
    expect(trainAt).toBeGreaterThan(1000);
    const grants = [...c.grants, { stream: -1, at: trainAt, bytes: TRAIN }];
    // Silence: nobody else is served for ~TRAIN/RATE before the train and after it.
    const silenceMs = (TRAIN / RATE) * 1000;
    expect(bytesIn(c.grants, trainAt - silenceMs + 10, trainAt)).toBe(0);
    expect(bytesIn(c.grants, trainAt, trainAt + silenceMs - 10)).toBe(0);
    // Windows at least as long as the silence stay within rate*T + capacity (+ one chunk of rounding).
    for (let start = 0; start < 2800; start += 5) {
      for (const width of [silenceMs, 500, 1000]) {
        expect(bytesIn(grants, start, start + width)).toBeLessThanOrEqual((RATE * width) / 1000 + bucket.capacity + 1000);
      }
    }
    // And the average over the whole run is still the rate (the train costs its own length once).
    const total = bytesIn(grants, 0, 3000);
    expect(total).toBeLessThanOrEqual(RATE * 3 + bucket.capacity + 1000);
    expect(total).toBeGreaterThanOrEqual(RATE * 3 - TRAIN - 10_000);
    c.stop();
  });

  it('passes an unlimited bucket straight through', async () => {
    const bucket = new TokenBucket({ rate: Infinity });
    await expect(bucket.takeTrain(10_000_000)).resolves.toBeUndefined();
  });
});
