/**
 * Bytes per second leaving through the shared token bucket, averaged over a short window. A running
 * total alone cannot give a rate to a one-shot reader (`image-spool status`): this keeps one sample of
 * the total per `everyMs` for `windowMs`, and a reading compares the live total with the oldest sample.
 */
export class EgressMeter {
  private readonly samples: Array<{ at: number; total: number }> = [];
  private timer: NodeJS.Timeout | null = null;

  /**
   * @param total bytes sent so far (monotonic), e.g. `TokenBucket.granted`
   * @param windowMs the span a reading averages over. @default 5000
   * @param everyMs sampling interval. @default 1000
   * @param now monotonic milliseconds (injected for tests). @default performance.now
   */
  constructor(
    private readonly total: () => number,
    private readonly windowMs = 5_000,
    private readonly everyMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(windowMs >= everyMs && everyMs > 0)) throw new RangeError(`expected 0 < everyMs <= windowMs, got everyMs=${everyMs} windowMs=${windowMs}`);
  }

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Records one sample (the timer calls this; tests may call it directly). */
  sample(): void {
    const at = this.now();
    this.samples.push({ at, total: this.total() });
    // Keep the newest sample at or beyond the window's start, so a reading always spans the full window.
    while (this.samples.length > 1 && at - (this.samples[1] as { at: number }).at >= this.windowMs) this.samples.shift();
  }

  /** Average bytes/s from the oldest kept sample to now; 0 before a measurable span has passed. */
  bytesPerSecond(): number {
    const oldest = this.samples[0];
    if (!oldest) return 0;
    const seconds = (this.now() - oldest.at) / 1000;
    if (seconds < 0.05) return 0;
    return Math.max(0, (this.total() - oldest.total) / seconds);
  }
}
