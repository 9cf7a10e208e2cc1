import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../throttle/clock.js';
import { parseRate, type BytesPerSecond } from '../throttle/rate.js';
import type { BudgetGate } from '../throttle/token-bucket.js';
import { LeaseInventory } from './lease-inventory.js';
import type { BudgetStore, LeaseReply } from './redis-store.js';

export type BudgetMode = 'shared' | 'fallback';

export interface SharedBudgetOptions {
  store: BudgetStore;
  /** GATEWAY_COUNT: without Redis, each gateway uses cap / this. */
  gatewayCount: number;
  /** The UPLOAD_BWLIMIT entry in force now (Infinity = off), and the timetable as configured. */
  timetable: () => BytesPerSecond;
  scheduleText: string;
  log: Logger;
  /** Largest lease, and the shared bucket's capacity, in ms of the rate. @default 30 */
  leaseMs?: number;
  /**
   * A lease unspent this long after it arrived is dropped (LeaseInventory): long enough to be spent at the
   * local pace behind the lease held before it, short enough to bound every window (docs/SCALING.md). @default 50
   */
  expiryMs?: number;
  /** Sync with Redis (and, in fallback, try it again) this often: an idle gateway learns a new override within this. @default 500 */
  syncMs?: number;
  clock?: Clock;
}

export interface BudgetState {
  backend: 'redis';
  mode: BudgetMode;
  gateways: number;
  redis: string;
  lease_ms: number;
}

/** Counters since start, for metrics and the measurements in docs/SCALING.md. */
export interface BudgetStats {
  /** Lease calls answered, by whether they granted bytes. */
  grants: number;
  empty: number;
  errors: number;
  grantedBytes: number;
  /** Round trips of answered lease calls, ms. */
  leaseRttMsTotal: number;
  leaseRttMsMax: number;
  /** Times the gateway switched to its local fallback. */
  fallbacks: number;
}

export type LeaseObserver = (rttMs: number, outcome: 'granted' | 'empty' | 'error') => void;

/**
 * A prefetch is started when the held lease falls below this share of a full lease. At 0.5, one gateway
 * alone reached 0.94-0.95 x cap next to a busy ingest (its event loop lags by more than the 15 ms it kept
 * in hand); at 0.8, 0.98-0.99.
 */
const LOW_WATER = 0.8;
/** Under contention, ask for at least this many ms of the rate: fewer, larger grants (fewer Redis calls). */
const MIN_GRANT_MS = 10;
/** Without a take for this long the gateway is idle: no prefetch. */
const IDLE_MS = 100;

/**
 * The gate between this gateway's token bucket and the site's shared budget in Redis. The local bucket
 * still paces and chunks at the full cap; each grant must also be covered by bytes leased from the
 * shared bucket (src/budget/lease-script.ts), which refills at the cap for all gateways together.
 *
 * Leases are small (at most `leaseMs` of the rate) and asked for only while this gateway has something
 * to send, so an idle gateway holds nothing and its share goes to the busy ones. The next lease is asked
 * for when a fifth of the held one is spent (LOW_WATER), so one gateway alone keeps the cap filled across
 * the round trip and the event-loop lag of a busy process. Leases expire (LeaseInventory), which bounds
 * what all gateways together can send in any window, however many there are.
 *
 * When Redis fails or is slow (200 ms), the gateway drops what it holds and falls back at once to a
 * local bucket at cap / GATEWAY_COUNT (the gate opens; the controller lowers the bucket's rate), logs it
 * once, and tries Redis again on every sync; the first success returns it to the shared bucket.
 */
export class SharedBudget implements BudgetGate {
  private readonly o: Required<Omit<SharedBudgetOptions, 'clock'>> & { clock: Clock };
  /** Fallback until the first sync succeeds: a gateway never draws on a budget it has not reached. */
  private modeValue: BudgetMode = 'fallback';
  private fallbackLogged = false;
  private overrideText: string | null = null;
  /** The override's rate, parsed once per change. */
  private overrideRate: BytesPerSecond | null = null;
  private readonly inventory = new LeaseInventory();
  private demand = 0;
  private lastUsedAt = -Infinity;
  private notBefore = 0;
  private fetching = false;
  private syncing = false;
  private running = false;
  private timer: unknown = null;
  private warnedSchedule: string | null = null;
  private wake: () => void = () => undefined;
  private readonly changeListeners: Array<() => void> = [];
  private readonly leaseObservers: LeaseObserver[] = [];
  private readonly counters: BudgetStats = { grants: 0, empty: 0, errors: 0, grantedBytes: 0, leaseRttMsTotal: 0, leaseRttMsMax: 0, fallbacks: 0 };

  constructor(options: SharedBudgetOptions) {
    if (!(Number.isInteger(options.gatewayCount) && options.gatewayCount >= 1)) {
      throw new RangeError(`expected gatewayCount to be a positive integer, got ${options.gatewayCount}`);
    }
    this.o = { leaseMs: 30, expiryMs: 50, syncMs: 500, clock: systemClock, ...options };
  }

  get mode(): BudgetMode {
    return this.modeValue;
  }

  /** The operator's override as the shared budget last said (null: the timetable applies). */
  get override(): string | null {
    return this.overrideText;
  }

  get gatewayCount(): number {
    return this.o.gatewayCount;
  }

  /** Connects (at most ~1 s) and syncs; without Redis it starts in fallback. Never throws. */
  async start(): Promise<void> {
    this.running = true;
    try {
      await this.o.store.connect(1000);
    } catch (err) {
      this.enterFallback(err);
    }
    await this.syncOnce();
    this.scheduleSync();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.o.store.close();
  }

  /** Mode or override changed: the bandwidth controller re-applies the rate. */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  onLease(observer: LeaseObserver): void {
    this.leaseObservers.push(observer);
  }

  onAvailable(wake: () => void): void {
    this.wake = wake;
  }

  state(): BudgetState {
    return { backend: 'redis', mode: this.modeValue, gateways: this.o.gatewayCount, redis: this.o.store.describe, lease_ms: this.o.leaseMs };
  }

  stats(): BudgetStats {
    return { ...this.counters };
  }

  /** Writes the override to Redis (every gateway applies it within a sync); throws budget_unavailable. */
  async setOverride(text: string | null): Promise<void> {
    try {
      await this.o.store.setOverride(text === null ? null : { rate: parseRate(text), text });
    } catch (err) {
      this.enterFallback(err);
      throw err;
    }
    this.updateOverride(text);
  }

  tryTake(bytes: number): boolean {
    if (this.modeValue === 'fallback' || !Number.isFinite(this.rate())) return true;
    const now = this.o.clock.now();
    if (this.inventory.take(bytes, now)) {
      this.lastUsedAt = now;
      if (this.inventory.held(now) < this.leaseBytes() * LOW_WATER) void this.fetch();
      return true;
    }
    this.demand = bytes;
    this.lastUsedAt = now;
    void this.fetch();
    return false;
  }

  /** The shared cap in force: the override as Redis last said, else the timetable now (as every gateway computes it). */
  private rate(): BytesPerSecond {
    return this.overrideRate ?? this.o.timetable();
  }

  private leaseBytes(): number {
    return (this.rate() * this.o.leaseMs) / 1000;
  }

  /** One loop at a time asks Redis until the held lease covers the demand and the low-water mark. */
  private async fetch(): Promise<void> {
    if (this.fetching) return;
    this.fetching = true;
    try {
      while (this.running && this.modeValue === 'shared' && Number.isFinite(this.rate())) {
        const lease = this.leaseBytes();
        const held = this.inventory.held(this.o.clock.now());
        const busy = this.demand > 0 || this.o.clock.now() - this.lastUsedAt <= IDLE_MS;
        if (held >= this.demand && (held >= lease * LOW_WATER || !busy)) break;
        const wait = this.notBefore - this.o.clock.now();
        if (wait > 0) {
          await this.sleep(wait);
          continue;
        }
        const want = Math.max(1, Math.ceil(Math.min(lease, Math.max(lease, this.demand) - held)));
        const deficit = this.demand - held;
        const min = Math.min(want, Math.max(1, Math.ceil(deficit), Math.ceil((this.rate() * MIN_GRANT_MS) / 1000)));
        const reply = await this.lease(want, min);
        if (reply === null) break;
        if (reply.granted > 0) {
          const now = this.o.clock.now();
          // A probe train (larger than a lease; only with UPLINK_SHARE, which redis mode refuses) must
          // be able to save up for itself: its leases live as long as the saving takes.
          const saving = this.demand > lease ? (this.demand * 1000) / this.rate() : 0;
          this.inventory.add(reply.granted, now + this.o.expiryMs + saving);
          this.lastUsedAt = Math.max(this.lastUsedAt, now);
          // The bucket ran dry: asking again at once would only return nothing.
          if (reply.granted < want) this.notBefore = now + (min * 1000) / this.rate();
          if (this.inventory.held(now) >= this.demand) {
            this.demand = 0;
            this.wakeBucket();
          }
        } else {
          // Jitter keeps gateways that were all told the same wait from asking in the same millisecond.
          this.notBefore = this.o.clock.now() + reply.waitMs + Math.random() * 2;
        }
      }
    } finally {
      this.fetching = false;
    }
    // An unlimited rate or a fallback opened the gate while a take waited.
    if (this.demand > 0 && (this.modeValue === 'fallback' || !Number.isFinite(this.rate()))) {
      this.demand = 0;
      this.wakeBucket();
    }
  }

  private async lease(want: number, min: number): Promise<LeaseReply | null> {
    const started = this.o.clock.now();
    let reply: LeaseReply;
    try {
      reply = await this.o.store.lease({ want, min, leaseMs: this.o.leaseMs, burstMs: this.o.leaseMs, scheduleRate: this.o.timetable() });
    } catch (err) {
      this.counters.errors++;
      this.observe(this.o.clock.now() - started, 'error');
      this.enterFallback(err);
      return null;
    }
    const rtt = this.o.clock.now() - started;
    if (reply.granted > 0) {
      this.counters.grants++;
      this.counters.grantedBytes += reply.granted;
    } else {
      this.counters.empty++;
    }
    this.counters.leaseRttMsTotal += rtt;
    this.counters.leaseRttMsMax = Math.max(this.counters.leaseRttMsMax, rtt);
    this.observe(rtt, reply.granted > 0 ? 'granted' : 'empty');
    if (!this.running || this.modeValue !== 'shared') return null; // fell back meanwhile: the grant is void
    // Another gateway changed the override: the controller re-applies (busy gateways learn it here, at once).
    this.updateOverride(reply.override);
    return reply;
  }

  private observe(rttMs: number, outcome: 'granted' | 'empty' | 'error'): void {
    for (const observer of this.leaseObservers) observer(rttMs, outcome);
  }

  private scheduleSync(): void {
    if (!this.running) return;
    this.timer = this.o.clock.setTimeout(() => {
      void this.syncOnce().finally(() => this.scheduleSync());
    }, this.o.syncMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Publishes the timetable rate, learns the override; in fallback, a success means Redis is back. */
  private async syncOnce(): Promise<void> {
    if (this.syncing || !this.running) return;
    this.syncing = true;
    try {
      const last = this.overrideText === null || this.overrideRate === null ? null : { rate: this.overrideRate, text: this.overrideText };
      const reply = await this.o.store.sync({ rate: this.o.timetable(), text: this.o.scheduleText }, last);
      if (reply.otherSchedule !== null && reply.otherSchedule !== this.warnedSchedule) {
        this.warnedSchedule = reply.otherSchedule;
        this.o.log.warn({ ours: this.o.scheduleText, other: reply.otherSchedule },
          'another gateway has a different UPLOAD_BWLIMIT: the shared cap flips between them; give every gateway the same timetable');
      }
      const overrideChanged = this.updateOverride(reply.override, false);
      if (this.modeValue === 'fallback') {
        this.modeValue = 'shared';
        this.fallbackLogged = false;
        this.inventory.clear();
        this.o.log.info({ redis: this.o.store.describe }, 'shared upload budget reachable: uploads draw from the shared bucket');
        this.emitChange();
      } else if (overrideChanged) {
        this.emitChange();
      }
    } catch (err) {
      this.enterFallback(err);
    } finally {
      this.syncing = false;
    }
  }

  /** Returns whether the override changed (and, unless told not to, tells the listeners). */
  private updateOverride(text: string | null, emit = true): boolean {
    if (text === this.overrideText) return false;
    this.overrideText = text;
    this.overrideRate = text === null ? null : parseRate(text);
    if (emit) this.emitChange();
    return true;
  }

  private enterFallback(err: unknown): void {
    this.inventory.clear();
    if (this.fallbackLogged) return; // already local, and said so
    this.modeValue = 'fallback';
    this.fallbackLogged = true;
    this.counters.fallbacks++;
    this.o.log.warn({ err: errorMessage(err), redis: this.o.store.describe, gateway_count: this.o.gatewayCount },
      `shared upload budget unreachable: this gateway uploads at cap / ${this.o.gatewayCount} on its own until Redis answers again`);
    this.emitChange();
    if (this.demand > 0) {
      this.demand = 0;
      this.wakeBucket();
    }
  }

  /** Never from inside the bucket's own tryTake call: the bucket is mid-pump there. */
  private wakeBucket(): void {
    queueMicrotask(() => this.wake());
  }

  private emitChange(): void {
    for (const listener of this.changeListeners) listener();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.o.clock.setTimeout(resolve, ms));
  }
}
