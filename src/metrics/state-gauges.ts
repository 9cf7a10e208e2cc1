import { Counter, Gauge, type Registry } from 'prom-client';
import { ROW_STATES, type ImageState, type RowState } from '../ledger/types.js';

/** Where the scrape-time numbers come from; each is read when Prometheus asks, never kept in step by hooks. */
export interface StateSources {
  /** Images and bytes per ledger state (the trigger-kept counters). */
  stateTotals(): Record<RowState, { images: number; bytes: number }>;
  /** received_at of the oldest queued or uploading image, or null. */
  oldestWaitingAt(): string | null;
  /** The upload budget in force, bytes/s (Infinity when off). */
  rate(): number;
  /** The operator's cap (override or timetable) before UPLINK_SHARE, bytes/s. */
  configuredRate(): number;
  /** Bytes the shared token bucket has granted since start: every upload byte and per-request allowance. */
  egressBytes(): number;
  /** Free bytes on the spool's filesystem (statfs, briefly cached). */
  freeBytes(): Promise<number>;
  /** Image bytes the spool holds files for. */
  storedBytes(): number;
  uploadsInFlight(): number;
  ingestsInFlight(): number;
  /** Why uploads are paused (S3 unusable), or null. */
  pausedReason(): string | null;
  now?: () => number;
}

const BACKLOG_STATES: readonly ImageState[] = ['queued', 'uploading'];

/** Gauges (and the egress counter) computed at scrape time with `collect()` from the live sources. */
export function registerStateGauges(registry: Registry, s: StateSources): void {
  const registers = [registry];
  const now = s.now ?? Date.now;
  const backlog = (): { images: number; bytes: number } => {
    const totals = s.stateTotals();
    return BACKLOG_STATES.reduce((sum, state) => ({ images: sum.images + totals[state].images, bytes: sum.bytes + totals[state].bytes }), { images: 0, bytes: 0 });
  };

  new Gauge({
    name: 'image_spool_backlog_images', help: 'Images waiting to be uploaded (queued or uploading).', registers,
    collect() { this.set(backlog().images); },
  });
  new Gauge({
    name: 'image_spool_backlog_bytes', help: 'Bytes of the images waiting to be uploaded (queued or uploading).', registers,
    collect() { this.set(backlog().bytes); },
  });
  new Gauge({
    name: 'image_spool_images', help: 'Receipts in the ledger by state (queued, uploading, uploaded, dead, evicted; duplicate: bytes another receipt holds).', labelNames: ['state'], registers,
    collect() {
      const totals = s.stateTotals();
      for (const state of ROW_STATES) this.set({ state }, totals[state].images);
    },
  });
  new Gauge({
    name: 'image_spool_images_bytes', help: 'Bytes of the images in the ledger by state.', labelNames: ['state'], registers,
    collect() {
      const totals = s.stateTotals();
      for (const state of ROW_STATES) this.set({ state }, totals[state].bytes);
    },
  });
  new Gauge({
    name: 'image_spool_oldest_queued_age_seconds', help: 'Age of the oldest image not yet uploaded (0 when the backlog is empty).', registers,
    collect() {
      const oldest = s.oldestWaitingAt();
      this.set(oldest === null ? 0 : Math.max(0, (now() - Date.parse(oldest)) / 1000));
    },
  });
  new Gauge({
    name: 'image_spool_drain_eta_seconds',
    help: 'Seconds to upload the backlog at the budget in force (backlog bytes / cap); NaN when the budget is off and images wait (then the link decides).',
    registers,
    collect() {
      const bytes = backlog().bytes;
      const rate = s.rate();
      this.set(bytes === 0 ? 0 : Number.isFinite(rate) ? bytes / rate : NaN);
    },
  });
  new Gauge({
    name: 'image_spool_egress_cap_bytes_per_second', help: 'The upload budget in force, bytes/s (+Inf when UPLOAD_BWLIMIT is off); below the configured cap when UPLINK_SHARE limits it.', registers,
    collect() { this.set(s.rate()); },
  });
  new Gauge({
    name: 'image_spool_egress_configured_cap_bytes_per_second', help: 'The operator\'s cap (override, else the UPLOAD_BWLIMIT timetable), bytes/s (+Inf when off).', registers,
    collect() { this.set(s.configuredRate()); },
  });
  let egressSeen = 0;
  new Counter({
    name: 'image_spool_egress_bytes_total',
    help: 'Bytes released to S3 through the shared budget: request bodies (retries included) and the per-request header allowance. rate() of it is compared with the cap.',
    registers,
    collect() {
      const total = s.egressBytes();
      if (total > egressSeen) this.inc(total - egressSeen);
      egressSeen = Math.max(egressSeen, total);
    },
  });
  new Gauge({
    name: 'image_spool_spool_free_bytes', help: 'Free bytes on the spool\'s filesystem (statfs, available to the service).', registers,
    async collect() { this.set(await s.freeBytes()); },
  });
  new Gauge({
    name: 'image_spool_spool_stored_bytes', help: 'Bytes of the image files the spool holds (queued, uploading, dead; uploaded too with KEEP_UPLOADED_FILES).', registers,
    collect() { this.set(s.storedBytes()); },
  });
  new Gauge({
    name: 'image_spool_uploads_in_flight', help: 'Uploads to S3 in progress.', registers,
    collect() { this.set(s.uploadsInFlight()); },
  });
  new Gauge({
    name: 'image_spool_ingests_in_flight', help: 'Device requests being received (MAX_CONCURRENT_UPLOADS limits them).', registers,
    collect() { this.set(s.ingestsInFlight()); },
  });
  new Gauge({
    name: 'image_spool_uploader_paused', help: '1 while uploads are paused because S3 is unusable (credentials, bucket, clock, unreachable); /readyz says why.', registers,
    collect() { this.set(s.pausedReason() === null ? 0 : 1); },
  });
}
