import type { Clock } from '../throttle/clock.js';
import { Ring } from './ring.js';

/** What the sampler reads at each tick. */
export interface Readings {
  backlogImages: number;
  backlogBytes: number;
  /** A counter that only grows: bytes the shared throttle has let through since start. */
  egressBytesTotal: number;
  /** The cap in force; Infinity when unlimited. */
  capBytesPerSec: number;
}

/** One point of the status page's charts. */
export interface Sample {
  at: string;
  backlog_images: number;
  backlog_bytes: number;
  /** Average since the previous point; null for the first one. */
  egress_bytes_per_sec: number | null;
  /** Null when unlimited. */
  cap_bytes_per_sec: number | null;
}

export interface HistoryOptions {
  read: () => Readings;
  /** `now()` is wall time in epoch milliseconds: the samples are plotted against it. */
  clock: Clock;
  /** @default 10000 */
  intervalMs?: number;
  /** @default 360 (one hour at 10 s) */
  capacity?: number;
}

interface Stored {
  sample: Sample;
  atMs: number;
  egressTotal: number;
}

/** Wall time with timers that never keep the process alive. */
export const wallClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** The current egress rate is averaged over at least this long, so a request right after a tick is not noise. */
const MIN_RATE_WINDOW_MS = 5000;

/**
 * The last hour of backlog, egress and cap, in memory: one sample per interval into a ring, so memory is
 * constant and a restart starts an empty chart (the ledger keeps the durable history; this is only a view).
 */
export class StatusHistory {
  private readonly ring: Ring<Stored>;
  private readonly intervalMs: number;
  private timer: unknown = null;
  private running = false;

  constructor(private readonly o: HistoryOptions) {
    this.intervalMs = o.intervalMs ?? 10_000;
    if (!(this.intervalMs > 0)) throw new RangeError(`expected intervalMs to be a positive number, got ${this.intervalMs}`);
    this.ring = new Ring(o.capacity ?? 360);
  }

  get interval(): number {
    return this.intervalMs;
  }

  /** Samples at once, then every interval until stop(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Stored samples, oldest first. */
  samples(): Sample[] {
    return this.ring.toArray().map((s) => s.sample);
  }

  /** A reading taken now (not stored): the right edge of the charts between ticks. */
  current(): Sample {
    const atMs = this.o.clock.now();
    const readings = this.o.read();
    const stored = this.ring.toArray();
    const base = stored.findLast((s) => atMs - s.atMs >= MIN_RATE_WINDOW_MS) ?? stored[0];
    return toSample(atMs, readings, base);
  }

  private tick(): void {
    if (!this.running) return;
    const atMs = this.o.clock.now();
    try {
      const readings = this.o.read();
      this.ring.push({ sample: toSample(atMs, readings, this.ring.newest()), atMs, egressTotal: readings.egressBytesTotal });
    } catch {
      // A failing read (ledger busy or broken) leaves a gap in the chart; /readyz is where that gets reported.
    }
    this.timer = this.o.clock.setTimeout(() => this.tick(), this.intervalMs);
  }
}

function toSample(atMs: number, r: Readings, previous: Stored | undefined): Sample {
  const elapsedMs = previous ? atMs - previous.atMs : 0;
  return {
    at: new Date(atMs).toISOString(),
    backlog_images: r.backlogImages,
    backlog_bytes: r.backlogBytes,
    // Elapsed <= 0 (the first sample, or the wall clock stepped back): no rate rather than a wrong one.
    egress_bytes_per_sec: previous && elapsedMs > 0 ? Math.max(0, Math.round(((r.egressBytesTotal - previous.egressTotal) * 1000) / elapsedMs)) : null,
    cap_bytes_per_sec: Number.isFinite(r.capBytesPerSec) ? r.capBytesPerSec : null,
  };
}
