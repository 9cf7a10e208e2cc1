import { describe, expect, it } from 'vitest';
import { LeaseInventory } from '../../src/budget/lease-inventory.js';
import { TokenBucket, type BudgetGate } from '../../src/throttle/token-bucket.js';
import { FakeClock, flushMicrotasks } from '../helpers/fake-clock.js';

/** A gate holding what the test gives it, like the shared budget's leases. */
class HandGate implements BudgetGate {
  held = 0;
  asked = 0;
  private wake: () => void = () => undefined;
  tryTake(bytes: number): boolean {
    this.asked++;
    if (this.held < bytes) return false;
    this.held -= bytes;
    return true;
  }
  onAvailable(wake: () => void): void {
    this.wake = wake;
  }
  give(bytes: number): void {
    this.held += bytes;
    this.wake();
  }
}

describe('TokenBucket with a budget gate', () => {
  it('grants only what both its own pacing and the gate allow, and waits for the gate without polling it', async () => {
    const clock = new FakeClock();
    const gate = new HandGate();
    const bucket = new TokenBucket({ rate: 1_000_000, burstMs: 10, clock, gate });
    let granted = 0;
    const takes = Array.from({ length: 10 }, () => bucket.take(1000).then(() => { granted += 1000; }));
    await clock.advance(100); // its own tokens would allow 100 kB by now
    expect(granted).toBe(0);
    const askedWhileBlocked = gate.asked;
    await clock.advance(1000);
    expect(gate.asked).toBe(askedWhileBlocked); // blocked on the gate: no timer spins, no asking again
    gate.give(3000);
    await flushMicrotasks();
    expect(granted).toBe(3000);
    gate.give(100_000);
    await clock.advance(0);
    await Promise.all(takes);
    expect(granted).toBe(10_000);
    expect(bucket.granted).toBe(10_000);
  });

  it('paces at its own rate however much the gate holds', async () => {
    const clock = new FakeClock();
    const gate = new HandGate();
    gate.held = 10_000_000;
    const bucket = new TokenBucket({ rate: 100_000, burstMs: 10, clock, gate });
    let granted = 0;
    const loop = (async () => {
      while (granted < 50_000) {
        await bucket.take(bucket.chunkBytes);
        granted += bucket.chunkBytes;
      }
    })();
    await clock.advance(200);
    expect(granted).toBeLessThanOrEqual(100_000 * 0.2 + bucket.capacity);
    expect(granted).toBeGreaterThanOrEqual(100_000 * 0.2 - bucket.chunkBytes);
    await clock.advance(1000);
    await loop;
  });

  it('an unlimited rate does not ask the gate', async () => {
    const gate = new HandGate();
    const bucket = new TokenBucket({ rate: Infinity, gate });
    await bucket.take(1e9);
    expect(gate.asked).toBe(0);
  });
});

describe('LeaseInventory', () => {
  it('spends oldest first, never partly, and drops leases at their expiry', () => {
    const inv = new LeaseInventory();
    inv.add(1000, 50);
    inv.add(2000, 80);
    expect(inv.held(0)).toBe(3000);
    expect(inv.take(1500, 10)).toBe(true); // 1000 from the first lease, 500 from the second
    expect(inv.held(10)).toBe(1500);
    expect(inv.take(2000, 10)).toBe(false); // not enough: nothing taken
    expect(inv.held(10)).toBe(1500);
    expect(inv.held(80)).toBe(0); // the second lease expired unspent
    inv.add(500, 200);
    expect(inv.take(500, 199)).toBe(true);
    expect(inv.held(199)).toBe(0);
    inv.add(700, 300);
    inv.clear();
    expect(inv.held(0)).toBe(0);
  });
});
