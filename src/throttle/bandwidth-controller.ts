import type { Logger } from '../log.js';
import type { BacklogSummary } from '../ledger/images.js';
import type { SettingsStore } from '../ledger/settings.js';
import { formatRate, parseRate, type BytesPerSecond } from './rate.js';
import { activeEntry, type Schedule } from './schedule.js';
import type { TokenBucket } from './token-bucket.js';

export const OVERRIDE_KEY = 'bwlimit.override';

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
export function backlogReport(summary: BacklogSummary, rate: BytesPerSecond): BacklogSummary & { rate_bytes_per_sec: number | null; drain_eta_seconds: number | null } {
  return {
    ...summary,
    rate_bytes_per_sec: rateOrNull(rate),
    drain_eta_seconds: Number.isFinite(rate) ? Math.ceil(summary.backlog_bytes / rate) : null,
  };
}

export interface BandwidthState {
  rate_bytes_per_sec: number | null;
  rate: string;
  source: 'schedule' | 'override';
  schedule: string;
  override: string | null;
}

/**
 * Decides the shared bucket's rate: an operator override (kept in the ledger, so it survives restarts)
 * or else the timetable entry in force. Re-evaluated every second so a timetable switch lands within 1 s.
 */
export class BandwidthController {
  private timer: NodeJS.Timeout | null = null;
  private override: string | null;

  constructor(
    private readonly bucket: TokenBucket,
    private readonly schedule: Schedule,
    private readonly settings: SettingsStore,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.override = settings.get(OVERRIDE_KEY) ?? null;
  }

  start(): void {
    this.apply();
    this.timer = setInterval(() => this.apply(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sets (text) or clears (null) the override; throws RateParseError on a bad rate. Applies at once. */
  setOverride(rate: string | null): void {
    if (rate !== null) parseRate(rate);
    this.override = rate;
    if (rate === null) this.settings.delete(OVERRIDE_KEY);
    else this.settings.set(OVERRIDE_KEY, rate);
    this.apply();
  }

  state(): BandwidthState {
    const rate = this.effectiveRate();
    return {
      rate_bytes_per_sec: rateOrNull(rate),
      rate: formatRate(rate),
      source: this.override === null ? 'schedule' : 'override',
      schedule: this.schedule.text,
      override: this.override,
    };
  }

  effectiveRate(): BytesPerSecond {
    return effectiveRate(this.schedule, this.override, this.now());
  }

  private apply(): void {
    const rate = this.effectiveRate();
    if (rate === this.bucket.rate) return;
    this.bucket.setRate(rate);
    this.log.info({ bwlimit: formatRate(rate), source: this.override === null ? 'schedule' : 'override' }, 'upload budget changed');
  }
}
