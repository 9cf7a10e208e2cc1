import type { Db } from '../ledger/open.js';
import { StatusQueries } from '../ledger/status.js';
import type { BandwidthController } from '../throttle/bandwidth-controller.js';
import type { Schedule } from '../throttle/schedule.js';
import type { TokenBucket } from '../throttle/token-bucket.js';
import type { Uploader } from '../uploader/uploader.js';
import { costBounded } from './cost-bounded.js';
import { StatusHistory, wallClock } from './history.js';
import { RecentErrors } from './recent-errors.js';
import { buildStatusReport, type StatusReport } from './report.js';

/** What GET / and GET /status.json read. */
export interface StatusSource {
  report(now: Date): StatusReport;
}

export interface StatusPage extends StatusSource {
  start(): void;
  stop(): void;
}

export interface StatusPageDeps {
  db: Db;
  bandwidth: BandwidthController;
  schedule: Schedule;
  throttle: TokenBucket;
  uploader: Uploader;
}

/** Devices listed on the page; the JSON says how many there were in all. */
const DEVICE_ROWS = 50;

/** The status page's moving parts: the hour of samples, the recent upload errors, the ledger reads. */
export function createStatusPage(deps: StatusPageDeps): StatusPage {
  const queries = new StatusQueries(deps.db);
  const errors = new RecentErrors();
  const history = new StatusHistory({
    clock: wallClock,
    read: () => {
      const states = queries.counts().states;
      const queued = states['queued'] ?? { images: 0, bytes: 0 };
      const uploading = states['uploading'] ?? { images: 0, bytes: 0 };
      return {
        backlogImages: queued.images + uploading.images,
        backlogBytes: queued.bytes + uploading.bytes,
        egressBytesTotal: deps.throttle.granted,
        capBytesPerSec: deps.bandwidth.effectiveRate(),
      };
    },
  });
  const devices = costBounded(() => queries.devices(new Date(), DEVICE_ROWS));
  let detach: (() => void) | null = null;
  return {
    report: (now) => buildStatusReport({ queries, bandwidth: deps.bandwidth, schedule: deps.schedule, uploader: deps.uploader, history, errors, devices }, now),
    start() {
      detach ??= errors.attach(deps.uploader);
      history.start();
    },
    stop() {
      history.stop();
      detach?.();
      detach = null;
    },
  };
}
