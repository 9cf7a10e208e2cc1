import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BodyGate, type BodyProgress } from '../../src/http/body-gate.js';

/** A body whose bytes and backpressure the test sets by hand. */
function body(): BodyProgress & { bytes: number; paused: boolean } {
  const b = { bytes: 0, paused: false, bytesRead: () => b.bytes, heldBack: () => b.paused };
  return b;
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('BodyGate', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('reads at most `slots` bodies at once and hands places over first come, first served', async () => {
    const gate = new BodyGate({ slots: 2, checkMs: 100, minBytes: 1000 });
    const order: number[] = [];
    const leaves: Array<() => void> = [];
    const entries = [1, 2, 3, 4].map((n) => gate.enter(body()).then((leave) => { order.push(n); leaves[n] = leave; }));
    await flush();
    expect(order).toEqual([1, 2]);
    expect(gate.queued).toBe(2);
    leaves[2]?.();
    leaves[2]?.(); // a second call gives nothing back twice
    await flush();
    expect(order).toEqual([1, 2, 3]);
    expect(gate.reading).toBe(2);
    leaves[1]?.();
    await Promise.all(entries);
    expect(order).toEqual([1, 2, 3, 4]);
    leaves[3]?.();
    leaves[4]?.();
    expect(gate.reading).toBe(0);
  });

  it('a slow sender gives up its place after one check; a fast one, or one held back by the service, keeps it', async () => {
    const gate = new BodyGate({ slots: 1, checkMs: 100, minBytes: 1000 });
    const fast = body();
    await gate.enter(fast);
    let waiterIn = false;
    void gate.enter(body()).then(() => { waiterIn = true; });
    for (let i = 0; i < 5; i++) {
      fast.bytes += 5000; // plenty in every interval
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(waiterIn).toBe(false);
    fast.paused = true; // the disk is slow: no bytes come in, but the service is the reason
    await vi.advanceTimersByTimeAsync(300);
    expect(waiterIn).toBe(false);
    fast.paused = false; // now the client itself trickles
    fast.bytes += 10;
    await vi.advanceTimersByTimeAsync(100);
    expect(waiterIn).toBe(true);
  });
});
