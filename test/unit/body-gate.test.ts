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

  it('bodies declared over 16 MiB (or of unknown length) hold at most half the places: a small one behind them is read next', async () => {
    const gate = new BodyGate({ slots: 4, checkMs: 100, minBytes: 1000 });
    const big = { client: 'nat', declaredBytes: 65_000_000 };
    const order: string[] = [];
    const enter = (name: string, claim: { client: string; declaredBytes: number | undefined }) => gate.enter(body(), claim).then((leave) => { order.push(name); return leave; });
    const bigs = ['b1', 'b2', 'b3'].map((n) => enter(n, big));
    void enter('chunked', { client: 'nat', declaredBytes: undefined });
    await flush();
    expect(order).toEqual(['b1', 'b2']); // two places of four; the other two wait for a body that is not large
    void enter('small', { client: 'nat', declaredBytes: 2_000_000 });
    await flush();
    expect(order).toEqual(['b1', 'b2', 'small']);
    (await bigs[0])?.();
    await flush();
    expect(order).toEqual(['b1', 'b2', 'small', 'b3']);
    expect(gate.queued).toBe(1); // the chunked body: large until it says otherwise
  });

  it('a freed place goes to the client holding the fewest, so one address with many bodies cannot queue in front of others', async () => {
    const gate = new BodyGate({ slots: 2, checkMs: 100, minBytes: 1000 });
    const order: string[] = [];
    const enter = (name: string, client: string) => gate.enter(body(), { client, declaredBytes: 1000 }).then((leave) => { order.push(name); return leave; });
    const first = enter('a1', 'a');
    void enter('a2', 'a');
    for (let i = 3; i <= 6; i++) void enter(`a${i}`, 'a');
    void enter('b1', 'b');
    await flush();
    expect(order).toEqual(['a1', 'a2']);
    (await first)();
    await flush();
    expect(order).toEqual(['a1', 'a2', 'b1']); // b holds none, a holds one: b goes first though it came last
  });
});
