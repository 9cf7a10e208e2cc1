import { systemClock, type Clock } from './clock.js';

export interface TokenBucketOptions {
  /** Bytes per second; `Infinity` disables the limit. */
  rate: number;
  /** Largest burst, in milliseconds of the rate. @default 10 */
  burstMs?: number;
  /** At low rates the burst never shrinks below one chunk of this size. @default 1024 */
  minBurstBytes?: number;
  /** Largest grant handed out at once; smaller grants interleave waiting streams more finely. @default 16384 */
  maxChunkBytes?: number;
  clock?: Clock;
  /** A budget beyond this bucket's own (the shared one in Redis): every grant must also pass it. */
  gate?: BudgetGate;
}

/**
 * A second budget every grant must pass, after the bucket's own pacing: `BUDGET_BACKEND=redis` leases
 * bytes from a bucket shared by several gateways (src/budget/shared-budget.ts).
 */
export interface BudgetGate {
  /** Takes `bytes` if held now; otherwise false, and the gate calls the `onAvailable` callback once it may hold them. */
  tryTake(bytes: number): boolean;
  onAvailable(wake: () => void): void;
}

interface Waiter {
  bytes: number;
  /** A probe train: granted whole, with silence of its own length before and after (see takeTrain). */
  train: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * One shared byte budget for every upload. Written here instead of using `stream-throttle` because that
 * library lets an idle bucket bank a whole second (a 2x burst after idle) and serves waiters unfairly.
 *
 * Invariants: tokens never exceed `capacity` (so no catch-up burst after idle), waiters are served strictly
 * first-in first-out (a stream re-queues after each chunk, which makes concurrent streams round-robin),
 * and over any interval of length T at most `rate*T + capacity` bytes are granted.
 */
export class TokenBucket {
  private rateValue: number;
  private readonly burstMs: number;
  private readonly minBurstBytes: number;
  private readonly maxChunkBytes: number;
  private readonly clock: Clock;
  private tokens: number;
  private lastRefill: number;
  private readonly queue: Waiter[] = [];
  private timer: unknown = null;
  private grantedTotal = 0;
  private readonly gate: BudgetGate | undefined;
  /** The head has its own tokens but waits for the gate, which will wake the bucket: no timer meanwhile. */
  private gateBlocked = false;

  constructor(options: TokenBucketOptions) {
    assertRate(options.rate);
    this.rateValue = options.rate;
    this.burstMs = options.burstMs ?? 10;
    this.minBurstBytes = options.minBurstBytes ?? 1024;
    this.maxChunkBytes = options.maxChunkBytes ?? 16 * 1024;
    this.clock = options.clock ?? systemClock;
    this.lastRefill = this.clock.now();
    this.tokens = this.capacity;
    this.gate = options.gate;
    this.gate?.onAvailable(() => {
      this.gateBlocked = false;
      this.pump();
    });
  }

  get rate(): number {
    return this.rateValue;
  }

  /** Burst allowance in bytes: ~burstMs of the rate, never less than one small chunk. */
  get capacity(): number {
    if (!Number.isFinite(this.rateValue)) return Infinity;
    return Math.max(this.minBurstBytes, (this.rateValue * this.burstMs) / 1000);
  }

  /**
   * Callers split their data into pieces of at most this many bytes before calling `take`. At most half
   * the capacity: a grant that needs a full bucket loses whatever accrues while a late timer fires (the
   * bucket is already full), which cost 5-9% of the rate at 1-2 MB/s; with two grants per bucket it does not.
   */
  get chunkBytes(): number {
    return Math.max(1, Math.floor(Math.min(this.maxChunkBytes, this.capacity / 2)));
  }

  /** Total bytes granted since construction (for metrics and tests). */
  get granted(): number {
    return this.grantedTotal;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Changes the rate now; in-flight streams feel it at their next chunk. */
  setRate(rate: number): void {
    assertRate(rate);
    this.refill();
    this.rateValue = rate;
    this.tokens = Math.min(this.tokens, this.ceiling());
    this.reschedule();
  }

  /**
   * Grants `bytes` in one piece, for a probe train that must leave back-to-back to measure the link
   * (src/throttle/uplink-estimator.ts). The cap still holds in every window: the bucket first stays
   * silent while `bytes` of tokens accumulate (nobody behind the train is served), and after the grant it
   * owes `bytes` again (tokens go negative), so the train sits in the middle of its own silence: any window
   * at least `bytes / rate` long still sees no more than `rate x window + capacity` bytes. Shorter windows
   * do see the train at the link's speed: that is the probe.
   */
  takeTrain(bytes: number, signal?: AbortSignal): Promise<void> {
    return this.enqueue(bytes, true, signal);
  }

  /** Resolves once `bytes` may be sent. Requests larger than one chunk are rejected: split them first. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!(bytes > 0)) return Promise.resolve();
    if (bytes > this.chunkBytes && Number.isFinite(this.rateValue)) {
      return Promise.reject(new RangeError(`take(${bytes}) exceeds chunk size ${this.chunkBytes}`));
    }
    return this.enqueue(bytes, false, signal);
  }

  private enqueue(bytes: number, train: boolean, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes, train, resolve, reject, signal,
        onAbort: () => this.cancel(waiter),
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  private cancel(waiter: Waiter): void {
    const index = this.queue.indexOf(waiter);
    if (index === -1) return;
    this.queue.splice(index, 1);
    waiter.reject(waiter.signal?.reason);
    // The head may have changed; its wake-up time with it.
    this.reschedule();
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = Math.max(0, now - this.lastRefill);
    this.lastRefill = now;
    if (!Number.isFinite(this.rateValue)) {
      this.tokens = Infinity;
      return;
    }
    this.tokens = Math.min(this.ceiling(), this.tokens + (elapsed * this.rateValue) / 1000);
  }

  /** Tokens never exceed the burst capacity, except while a train at the head saves up for itself. */
  private ceiling(): number {
    const head = this.queue[0];
    return head?.train ? Math.max(this.capacity, head.bytes) : this.capacity;
  }

  private pump(): void {
    this.refill();
    while (this.queue.length > 0) {
      const head = this.queue[0] as Waiter;
      const need = this.need(head);
      if (this.tokens < need) break;
      if (this.gate && Number.isFinite(this.rateValue) && !this.gate.tryTake(head.bytes)) {
        this.gateBlocked = true;
        break;
      }
      this.gateBlocked = false;
      // A train leaves its debt behind: the silence after it is as long as the silence before it.
      this.tokens -= head.train ? 2 * head.bytes : head.bytes;
      this.queue.shift();
      this.grantedTotal += head.bytes;
      head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve();
    }
    this.reschedule();
  }

  /** Tokens the head must see before it is served. */
  private need(head: Waiter): number {
    // A live rate drop can shrink the chunk below a request already queued: grant it once the bucket is full.
    return head.train ? head.bytes : Math.min(head.bytes, this.capacity);
  }

  private reschedule(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    const head = this.queue[0];
    if (!head) {
      this.gateBlocked = false;
      return;
    }
    if (this.gateBlocked) return;
    this.refill();
    const need = this.need(head) - this.tokens;
    const waitMs = need <= 0 ? 0 : Math.ceil((need * 1000) / this.rateValue);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.pump();
    }, waitMs);
  }
}

function assertRate(rate: number): void {
  if (!(rate > 0)) throw new RangeError(`expected rate to be a positive number of bytes per second or Infinity, got ${rate}`);
}
