import type { StatusReport } from '../api/schemas/status-report.js';
import type { DeviceActivity, StatusQueries } from '../ledger/status.js';
import type { BandwidthController } from '../throttle/bandwidth-controller.js';
import { formatRate } from '../throttle/rate.js';
import { activeEntry, type Schedule } from '../throttle/schedule.js';
import type { PauseState } from '../uploader/uploader.js';
import type { StatusHistory } from './history.js';
import type { RecentErrors } from './recent-errors.js';

/**
 * GET /status.json. Nothing secret: no tokens, link secrets or credentials, only what the ledger and uploader
 * know. This is the full view (the admin credential); public-view.ts derives what anyone may see. Its shape
 * is the StatusReport schema (src/api/schemas/status-report.ts).
 */
export type { StatusReport };

export interface ReportSources {
  queries: StatusQueries;
  bandwidth: BandwidthController;
  schedule: Schedule;
  uploader: { readonly active: number; readonly paused: PauseState | null };
  history: StatusHistory;
  errors: RecentErrors;
  /** Per-device activity, cached by cost (see cost-bounded.ts). */
  devices: () => { value: { rows: DeviceActivity[]; total: number }; computedAtMs: number };
}

export const RECENT_UPLOADS = 20;
export const DEAD_IMAGES = 10;

export function buildStatusReport(s: ReportSources, now: Date): StatusReport {
  const counts = s.queries.counts();
  const state = (name: string): { images: number; bytes: number } => counts.states[name] ?? { images: 0, bytes: 0 };
  const backlogImages = state('queued').images + state('uploading').images;
  const backlogBytes = state('queued').bytes + state('uploading').bytes;
  const bw = s.bandwidth.state();
  const active = activeEntry(s.schedule, now);
  const devices = s.devices();
  return {
    view: 'full',
    generated_at: now.toISOString(),
    backlog: {
      images: backlogImages,
      bytes: backlogBytes,
      oldest_queued_at: s.queries.oldestQueuedAt(),
      drain_eta_seconds: bw.rate_bytes_per_sec === null ? null : Math.ceil(backlogBytes / bw.rate_bytes_per_sec),
    },
    totals: { receipts: counts.receipts, uploaded: state('uploaded').images, uploaded_bytes: state('uploaded').bytes, dead: state('dead').images, evicted: state('evicted').images },
    bandwidth: {
      rate_bytes_per_sec: bw.rate_bytes_per_sec,
      rate: bw.rate,
      source: bw.source,
      limited_by: bw.limited_by,
      schedule: bw.schedule,
      override: bw.override,
      timetable: s.schedule.entries.map((e) => ({ entry: e.text, rate: formatRate(e.rate), active: bw.override === null && e === active })),
    },
    uploader: { active_uploads: s.uploader.active, paused: s.uploader.paused },
    history: { interval_ms: s.history.interval, samples: s.history.samples(), current: s.history.current() },
    recent_uploads: s.queries.recentUploads(RECENT_UPLOADS),
    recent_errors: s.errors.list(),
    dead_images: s.queries.recentDead(DEAD_IMAGES),
    devices: { ...devices.value, computed_at: new Date(devices.computedAtMs).toISOString() },
  };
}
