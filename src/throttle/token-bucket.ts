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
}

interface Waiter {
  bytes: number;
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

  constructor(options: TokenBucketOptions) {
    assertRate(options.rate);
    this.rateValue = options.rate;
    this.burstMs = options.burstMs ?? 10;
    this.minBurstBytes = options.minBurstBytes ?? 1024;
    this.maxChunkBytes = options.maxChunkBytes ?? 16 * 1024;
    this.clock = options.clock ?? systemClock;
    this.lastRefill = this.clock.now();
    this.tokens = this.capacity;
  }

  get rate(): number {
    return this.rateValue;
  }

  /** Burst allowance in bytes: ~burstMs of the rate, never less than one small chunk. */
  get capacity(): number {
    if (!Number.isFinite(this.rateValue)) return Infinity;
    return Math.max(this.minBurstBytes, (this.rateValue * this.burstMs) / 1000);
  }

  /** Callers split their data into pieces of at most this many bytes before calling `take`. */
  get chunkBytes(): number {
    return Math.max(1, Math.floor(Math.min(this.maxChunkBytes, this.capacity)));
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
    this.tokens = Math.min(this.tokens, this.capacity);
    this.reschedule();
  }

  /** Resolves once `bytes` may be sent. Requests larger than one chunk are rejected: split them first. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!(bytes > 0)) return Promise.resolve();
    if (bytes > this.chunkBytes && Number.isFinite(this.rateValue)) {
      return Promise.reject(new RangeError(`take(${bytes}) exceeds chunk size ${this.chunkBytes}`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes, resolve, reject, signal,
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
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.rateValue) / 1000);
  }

  private pump(): void {
    this.refill();
    while (this.queue.length > 0) {
      const head = this.queue[0] as Waiter;
      // A live rate drop can shrink the chunk below a request already queued: grant it once the bucket is full.
      const need = Math.min(head.bytes, this.capacity);
      if (this.tokens < need) break;
      this.tokens -= head.bytes;
      this.queue.shift();
      this.grantedTotal += head.bytes;
      head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve();
    }
    this.reschedule();
  }

  private reschedule(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    const head = this.queue[0];
    if (!head) return;
    this.refill();
    const need = Math.min(head.bytes, this.capacity) - this.tokens;
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
