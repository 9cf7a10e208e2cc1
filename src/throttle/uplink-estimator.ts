import type { UploadTiming } from '../s3/put-image.js';
import type { BytesPerSecond } from './rate.js';

/**
 * UPLINK_SHARE: estimates the uplink's capacity from what uploads observe, so the budget can be a share
 * of a link whose speed varies. See docs/SHAPING.md for the design, the measured curve and the limits.
 *
 * The capacity above our own sending rate cannot be seen by sending at that rate (an app-limited flow only
 * learns "at least this fast"), and the configured cap forbids sending faster. So every `probeIntervalMs`
 * one upload sends its last `trainBytes` back-to-back (TokenBucket.takeTrain, which keeps the cap by
 * surrounding the train with its own length of silence). The bottleneck spreads the train out to
 * `trainBytes / capacity`: BBR's delivery-rate sample, taken from one burst. We time it from userspace as
 * the response's extra wait over the *base delay*, the least wait of ordinary uploads over the last minute
 * (LEDBAT's base delay: RTT plus server time with no queue). Server and scheduling noise only ever adds
 * delay, so, like BBR's bottleneck-bandwidth filter, the estimate is the *largest* sample of a short window:
 * the least noisy one. A queue built by our own traffic inflates a train's wait too, which lowers its
 * sample: congestion pushes the share down, never up. After the link slows, the fast samples age out of
 * the window, which bounds the reaction time (window + one upload).
 */
export interface UplinkEstimatorOptions {
  /** Fraction of the estimated capacity uploads may use, in (0, 1]. */
  share: number;
  /** @default 1500 */
  probeIntervalMs?: number;
  /** The estimate is the best probe sample of this long. @default 5000 */
  windowMs?: number;
  /** Monotonic milliseconds. */
  now?: () => number;
}

export interface UplinkState {
  share: number;
  capacity_bytes_per_sec: number | null;
  base_delay_ms: number | null;
  probes: number;
  last_probe_bytes_per_sec: number | null;
  train_bytes: number;
}

/** Before the first probe nothing is known about an uncapped link: start here, well below any real uplink. */
const UNKNOWN_LINK_START: BytesPerSecond = 1_000_000;
/** The base delay is the minimum over this many buckets of BASE_BUCKET_MS each. */
const BASE_BUCKETS = 6;
const BASE_BUCKET_MS = 10_000;
/** Below this, dispersion is lost in timer noise: clamp, which caps what one train can measure. */
const MIN_DISPERSION_MS = 2;

export class UplinkEstimator {
  private readonly share: number;
  private readonly probeIntervalMs: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly baseBuckets: Array<{ start: number; min: number }> = [];
  private readonly samples: Array<{ at: number; rate: number }> = [];
  private probeInFlight = false;
  private lastProbeAt = -Infinity;
  private probeCount = 0;
  private listener: (() => void) | null = null;

  constructor(o: UplinkEstimatorOptions) {
    if (!(o.share > 0 && o.share <= 1)) throw new RangeError(`share must be in (0, 1], got ${o.share}`);
    this.share = o.share;
    this.probeIntervalMs = o.probeIntervalMs ?? 1500;
    this.windowMs = o.windowMs ?? 5000;
    this.now = o.now ?? (() => performance.now());
  }

  /** Called after every new estimate (the bandwidth controller re-applies the rate at once). */
  onEstimate(listener: () => void): void {
    this.listener = listener;
  }

  /**
   * Long enough that the fastest link the share could still limit (configured / share) needs ~25 ms
   * to pass it, so timer noise of a few ms stays small; bounded so a probe never holds much memory.
   */
  trainBytes(configured: BytesPerSecond): number {
    const fastest = Number.isFinite(configured) ? configured / this.share : Math.max(this.capacity() ?? 0, 12_500_000) * 2;
    return Math.round(Math.min(4 * 2 ** 20, Math.max(256 * 2 ** 10, fastest * 0.025)));
  }

  /** At the start of an upload: how many tail bytes it should send as a train (0 = not a probe). */
  claimProbe(fileBytes: number, configured: BytesPerSecond): number {
    const train = this.trainBytes(configured);
    if (this.probeInFlight || fileBytes < train || this.now() - this.lastProbeAt < this.probeIntervalMs) return 0;
    // Probes need a base delay to be measured against: ordinary uploads come first.
    if (this.baseDelay() === null) return 0;
    this.probeInFlight = true;
    this.lastProbeAt = this.now();
    return train;
  }

  /** The probe upload failed or was interrupted: no sample; the next upload may probe. */
  abandonProbe(): void {
    this.probeInFlight = false;
  }

  observe(timing: UploadTiming): void {
    if (!timing.train) {
      this.observeBase(timing.tailWaitMs);
      return;
    }
    this.probeInFlight = false;
    const base = this.baseDelay();
    if (base === null) return;
    const dispersionMs = Math.max(MIN_DISPERSION_MS, timing.tailWaitMs - base);
    const now = this.now();
    this.samples.push({ at: now, rate: (timing.tailBytes * 1000) / dispersionMs });
    // Keep the window, and always the latest sample: after an idle spell it is the best thing known.
    while (this.samples.length > 1 && (this.samples[0] as { at: number }).at < now - this.windowMs) this.samples.shift();
    this.probeCount++;
    this.listener?.();
  }

  /** The best sample of the window (or the latest one, if all are older). */
  capacity(): BytesPerSecond | null {
    const latest = this.samples.at(-1);
    if (!latest) return null;
    const since = this.now() - this.windowMs;
    const recent = this.samples.filter((s) => s.at >= since);
    return recent.length === 0 ? latest.rate : Math.max(...recent.map((s) => s.rate));
  }

  /** The rate uploads may use: the configured cap, or the share of the estimate when that is lower. */
  limit(configured: BytesPerSecond): BytesPerSecond {
    const capacity = this.capacity();
    if (capacity === null) return Number.isFinite(configured) ? configured * this.share : UNKNOWN_LINK_START;
    return Math.min(configured, capacity * this.share);
  }

  state(configured: BytesPerSecond): UplinkState {
    return {
      share: this.share,
      capacity_bytes_per_sec: roundOrNull(this.capacity()),
      base_delay_ms: this.baseDelay(),
      probes: this.probeCount,
      last_probe_bytes_per_sec: roundOrNull(this.samples.at(-1)?.rate ?? null),
      train_bytes: this.trainBytes(configured),
    };
  }

  private observeBase(waitMs: number): void {
    const t = this.now();
    const current = this.baseBuckets.at(-1);
    if (current && t - current.start < BASE_BUCKET_MS) {
      current.min = Math.min(current.min, waitMs);
      return;
    }
    this.baseBuckets.push({ start: t, min: waitMs });
    if (this.baseBuckets.length > BASE_BUCKETS) this.baseBuckets.shift();
  }

  private baseDelay(): number | null {
    const since = this.now() - BASE_BUCKETS * BASE_BUCKET_MS;
    const recent = this.baseBuckets.filter((b) => b.start >= since);
    return recent.length === 0 ? null : Math.min(...recent.map((b) => b.min));
  }
}

function roundOrNull(x: number | null): number | null {
  return x === null ? null : Math.round(x);
}
