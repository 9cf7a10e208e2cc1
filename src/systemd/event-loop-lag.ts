import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** Sampling period of the delay histogram; each sample is the time between two turns of a timer this often. */
const RESOLUTION_MS = 20;

/**
 * Event-loop lag between watchdog ticks, from Node's delay histogram. `take()` reads and resets it.
 *
 * The 99th percentile, not the maximum: one long pause (a GC, a large synchronous query) is one sample
 * among hundreds and must not get the service killed, while a loop that keeps stalling puts many of its
 * few samples high. A loop stuck for good needs no measuring: it cannot run the tick that would ping.
 */
export class EventLoopLag {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });

  start(): void {
    this.histogram.enable();
  }

  stop(): void {
    this.histogram.disable();
  }

  /** p99 lag in ms since the last call (the sampling period taken off), or 0 before any sample. */
  take(): number {
    const p99 = this.histogram.count === 0 ? 0 : this.histogram.percentile(99) / 1e6 - RESOLUTION_MS;
    this.histogram.reset();
    return Math.max(0, p99);
  }
}
