import type { UploadTiming } from '../s3/put-image.js';

/** How many uploads run at once. The uploader starts `max` workers; only the first `target()` claim images. */
export interface ConcurrencyPolicy {
  readonly max: number;
  target(rate: number): number;
  observe(bytes: number, timing: UploadTiming): void;
  describe(): string;
}

export function fixedConcurrency(n: number): ConcurrencyPolicy {
  return { max: n, target: () => n, observe: () => undefined, describe: () => String(n) };
}

/** Used for the arithmetic when the budget is unlimited: the link decides, assume a fast one. */
const UNLIMITED_ASSUMED_RATE = 50_000_000;

/**
 * UPLOAD_CONCURRENCY=auto. Each upload spends some time not sending: setting up the request and waiting
 * for its answer (an RTT plus server time). The shared budget stays busy only if some other upload is
 * sending meanwhile. On average `rate x dead time / image size` uploads sit in that dead time, so run
 * three times that plus two (dead times vary: some answers take several RTTs), kept within [min, max]. With 4 MB images one RTT is small next to the sending
 * time and this stays at `min`; with small images on a far link it grows.
 */
export class AutoConcurrency implements ConcurrencyPolicy {
  /** Until the first upload reports, assume the reference load: 4 MB images, 100 ms of dead time. */
  private deadMs = 100;
  private bytes = 4_000_000;
  private observed = false;

  constructor(private readonly min = 4, readonly max = 64) {}

  target(rate: number): number {
    const r = Number.isFinite(rate) ? rate : UNLIMITED_ASSUMED_RATE;
    const waiting = (r * this.deadMs) / 1000 / this.bytes;
    return Math.min(this.max, Math.max(this.min, Math.ceil(3 * waiting) + 2));
  }

  /** Exponentially weighted, so a change of image size or RTT shows within ~20 uploads. */
  observe(bytes: number, timing: UploadTiming): void {
    // A probe train's wait is mostly its own sending time, not dead time.
    if (timing.train) return;
    // The first sample replaces the assumption outright; a backlog of small images should not wait 30 uploads.
    const alpha = this.observed ? 0.1 : 1;
    this.observed = true;
    this.deadMs += alpha * (timing.leadMs + timing.tailWaitMs - this.deadMs);
    this.bytes += alpha * (bytes - this.bytes);
  }

  describe(): string {
    return `auto (${this.min}-${this.max}; dead time ${this.deadMs.toFixed(0)} ms, mean image ${(this.bytes / 1e6).toFixed(2)} MB)`;
  }
}
