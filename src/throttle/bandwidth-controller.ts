import type { BandwidthState } from '../api/schemas/bandwidth.js';
import type { Backlog } from '../api/schemas/images.js';
import type { SharedBudget } from '../budget/shared-budget.js';
import type { Logger } from '../log.js';
import type { BacklogSummary } from '../ledger/images.js';
import type { SettingsStore } from '../ledger/settings.js';
import { formatRate, parseRate, type BytesPerSecond } from './rate.js';
import { activeEntry, msToNextMinute, type Schedule } from './schedule.js';
import type { TokenBucket } from './token-bucket.js';
import type { UplinkEstimator } from './uplink-estimator.js';
import type { UploadTiming } from '../s3/put-image.js';
import type { LinkObserver } from '../uploader/uploader.js';

export const OVERRIDE_KEY = 'bwlimit.override';

/** Where the cap comes from: one name wherever it is shown (log, `bwlimit`, `status`, the status page). */
export function capSource(override: string | null): BandwidthState['source'] {
  return override === null ? 'schedule' : 'override';
}

/** The rate in force: the operator's override if any, else the timetable entry active at `now`. */
export function effectiveRate(schedule: Schedule, override: string | null, now: Date): BytesPerSecond {
  return override !== null ? parseRate(override) : activeEntry(schedule, now).rate;
}

/** JSON has no Infinity: an unlimited rate is reported as null. */
function rateOrNull(rate: BytesPerSecond): number | null {
  return Number.isFinite(rate) ? rate : null;
}

/**
 * The backlog as operators see it (GET /images, `image-spool status`): counts, bytes, the rate in force and
 * how long the backlog takes to drain at that rate (null when unlimited: then the link decides).
 */
export function backlogReport(summary: BacklogSummary, rate: BytesPerSecond): Backlog {
  return {
    ...summary,
    rate_bytes_per_sec: rateOrNull(rate),
    drain_eta_seconds: Number.isFinite(rate) ? Math.ceil(summary.backlog_bytes / rate) : null,
  };
}

/** GET/PUT /admin/bwlimit: the BandwidthState schema (src/api/schemas/bandwidth.ts). */
export type { BandwidthState };

/**
 * Decides the shared bucket's rate: an operator override (kept in the ledger, so it survives restarts)
 * or else the timetable entry in force; with UPLINK_SHARE, at most that share of the estimated uplink.
 * With BUDGET_BACKEND=redis the override lives in Redis, shared by every gateway (`shared`), and while
 * Redis is unreachable this gateway's rate is the cap / GATEWAY_COUNT.
 * Re-evaluated every second and on each minute boundary (a timetable switch lands within ms of its time),
 * at once after an override, and at once after a new estimate.
 */
export class BandwidthController implements LinkObserver {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private override: string | null;
  private lastConfigured: BytesPerSecond | null = null;
  private readonly rateListeners: Array<(rate: BytesPerSecond) => void> = [];

  constructor(
    private readonly bucket: TokenBucket,
    private readonly schedule: Schedule,
    private readonly settings: SettingsStore,
    private readonly log: Logger,
    private readonly estimator: UplinkEstimator | null = null,
    private readonly now: () => Date = () => new Date(),
    private readonly shared: SharedBudget | null = null,
  ) {
    this.override = settings.get(OVERRIDE_KEY) ?? null;
    if (shared && this.override !== null) {
      log.warn({ ledger_override: this.override }, 'BUDGET_BACKEND=redis: the override kept in this gateway\'s ledger is ignored; the shared one in Redis applies (set it with PUT /admin/bwlimit)');
    }
    estimator?.onEstimate(() => this.apply());
    shared?.onChange(() => this.apply());
  }

  /** The override in force: the shared one with BUDGET_BACKEND=redis, else this gateway's. */
  private currentOverride(): string | null {
    return this.shared ? this.shared.override : this.override;
  }

  start(): void {
    this.running = true;
    this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Re-evaluates every second, and right on each minute boundary (timetable entries are minute-granular),
   * so a switch lands within a few ms of its time rather than up to a second late.
   */
  private tick(): void {
    if (!this.running) return;
    this.apply();
    const wait = Math.min(1000, msToNextMinute(this.now()) + 2);
    this.timer = setTimeout(() => this.tick(), wait);
    this.timer.unref();
  }

  /** Called after every change of the bucket's rate (the uploader re-sizes its concurrency). */
  onRateChange(listener: (rate: BytesPerSecond) => void): void {
    this.rateListeners.push(listener);
  }

  /**
   * PUT /admin/bwlimit: with the shared budget, writes the override to Redis for every gateway (throws
   * SpoolError budget_unavailable when it cannot); else setOverride. Throws RateParseError on a bad rate.
   */
  async changeOverride(rate: string | null): Promise<void> {
    if (!this.shared) {
      this.setOverride(rate);
      return;
    }
    if (rate !== null) parseRate(rate);
    await this.shared.setOverride(rate);
    this.apply();
  }

  /** Sets (text) or clears (null) this gateway's override; throws RateParseError on a bad rate. Applies at once. */
  setOverride(rate: string | null): void {
    if (rate !== null) parseRate(rate);
    // The ledger first: if it refuses (locked by another process: 503 ledger_busy), nothing changed.
    if (rate === null) this.settings.delete(OVERRIDE_KEY);
    else this.settings.set(OVERRIDE_KEY, rate);
    this.override = rate;
    this.apply();
  }

  state(): BandwidthState {
    const configured = this.configuredRate();
    const rate = this.limit(configured);
    const override = this.currentOverride();
    return {
      rate_bytes_per_sec: rateOrNull(rate),
      rate: formatRate(rate),
      source: capSource(override),
      configured_rate_bytes_per_sec: rateOrNull(configured),
      limited_by: rate < configured ? (this.shared ? 'budget_fallback' : 'uplink_share') : 'cap',
      schedule: this.schedule.text,
      override,
      uplink: this.estimator?.state(configured) ?? null,
      budget: this.shared?.state() ?? null,
    };
  }

  /** The operator's cap: override, else timetable. */
  configuredRate(): BytesPerSecond {
    return effectiveRate(this.schedule, this.currentOverride(), this.now());
  }

  effectiveRate(): BytesPerSecond {
    return this.limit(this.configuredRate());
  }

  private limit(configured: BytesPerSecond): BytesPerSecond {
    // Without Redis no gateway knows what the others send: each keeps to its equal share, so all together stay under the cap.
    if (this.shared?.mode === 'fallback') return configured / this.shared.gatewayCount;
    return this.estimator ? this.estimator.limit(configured) : configured;
  }

  claimProbe(fileBytes: number): number {
    return this.estimator?.claimProbe(fileBytes, this.configuredRate()) ?? 0;
  }

  abandonProbe(): void {
    this.estimator?.abandonProbe();
  }

  observe(timing: UploadTiming): void {
    this.estimator?.observe(timing);
  }

  private apply(): void {
    const configured = this.configuredRate();
    const rate = this.limit(configured);
    const operatorChange = configured !== this.lastConfigured;
    this.lastConfigured = configured;
    if (rate === this.bucket.rate) return;
    this.bucket.setRate(rate);
    for (const listener of this.rateListeners) listener(rate);
    const fields = { bwlimit: formatRate(rate), configured: formatRate(configured), source: capSource(this.currentOverride()), ...(this.shared ? { budget_mode: this.shared.mode } : {}) };
    // Estimates move the rate at every probe: the operator's changes are info, the estimator's are debug.
    if (operatorChange || this.shared) this.log.info(fields, 'upload budget changed');
    else this.log.debug({ ...fields, uplink_capacity: this.estimator?.capacity() }, 'upload budget follows the uplink estimate');
  }
}
