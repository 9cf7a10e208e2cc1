import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { LedgerFiles, StatusSnapshot } from '../api/schemas/admin.js';
import type { BandwidthState } from '../api/schemas/bandwidth.js';
import type { Config } from '../config.js';
import type { BacklogSummary, ImageLedger } from '../ledger/images.js';
import { lockHolders } from '../ledger/lock-holders.js';
import type { WalWatch } from '../ledger/wal-watch.js';
import { backlogReport, capSource, type BandwidthController } from '../throttle/bandwidth-controller.js';
import type { EgressMeter } from '../throttle/egress-meter.js';
import { formatRate, type BytesPerSecond } from '../throttle/rate.js';

/** `GET /admin/status` and `image-spool status --json`: the Status schema (src/api/schemas/admin.ts). */
export type { LedgerFiles, StatusSnapshot };

export interface StatusInputs {
  service: 'up' | 'down';
  now: Date;
  summary: BacklogSummary;
  rate: BytesPerSecond;
  configuredRate: BytesPerSecond;
  /** The bandwidth controller's answer (it alone knows why the rate is lower); `cap` when the service is down. */
  limitedBy: BandwidthState['limited_by'];
  schedule: string;
  override: string | null;
  egressBytesPerSec: number | null;
  spoolBytes: number;
  spoolMaxBytes: number;
  disk: { free_bytes: number; total_bytes: number };
  ledger: LedgerFiles;
}

export function buildStatus(i: StatusInputs): StatusSnapshot {
  const report = backlogReport(i.summary, i.rate);
  const oldest = report.oldest_queued_at;
  return {
    service: i.service,
    at: i.now.toISOString(),
    backlog: {
      images: report.queued + report.uploading,
      bytes: report.backlog_bytes,
      queued: report.queued,
      uploading: report.uploading,
      oldest_queued_at: oldest,
      oldest_queued_age_seconds: oldest === null ? null : Math.max(0, Math.floor((i.now.getTime() - Date.parse(oldest)) / 1000)),
    },
    totals: { uploaded: report.uploaded, dead: report.dead, evicted: report.evicted, duplicates: report.duplicate },
    egress_bytes_per_sec: i.egressBytesPerSec === null ? null : Math.round(i.egressBytesPerSec),
    cap: {
      rate_bytes_per_sec: report.rate_bytes_per_sec,
      rate: formatRate(i.rate),
      configured_rate_bytes_per_sec: Number.isFinite(i.configuredRate) ? i.configuredRate : null,
      source: capSource(i.override),
      limited_by: i.limitedBy,
      schedule: i.schedule,
      override: i.override,
    },
    drain_eta_seconds: report.drain_eta_seconds,
    disk: {
      spool_bytes: i.spoolBytes,
      spool_max_bytes: Number.isFinite(i.spoolMaxBytes) ? i.spoolMaxBytes : null,
      ...i.disk,
    },
    ledger: i.ledger,
  };
}

/** The WAL's size on disk and who else holds the ledger's locks. */
export async function ledgerFiles(dbFile: string, walMaxBytes: number, walPinned: boolean | null): Promise<LedgerFiles> {
  const [walBytes, holders] = await Promise.all([
    stat(`${dbFile}-wal`).then((s) => s.size, () => 0),
    lockHolders(dbFile).catch(() => null),
  ]);
  return { wal_bytes: walBytes, wal_max_bytes: walMaxBytes, wal_pinned: walPinned, locked_by: holders?.writers ?? null, readers: holders?.readers ?? null };
}

/** Free (for unprivileged users, as the service runs) and total bytes of the filesystem holding `dir`. */
export async function filesystemSpace(dir: string): Promise<{ free_bytes: number; total_bytes: number }> {
  const s = await statfs(dir);
  return { free_bytes: s.bavail * s.bsize, total_bytes: s.blocks * s.bsize };
}

export type StatusConfig = Pick<Config, 'spoolDir' | 'keepUploadedFiles' | 'spoolMaxBytes' | 'ledgerWalMaxBytes'>;

/** The running service's snapshot: live rate (after UPLINK_SHARE) and measured egress. */
export function serviceStatus(deps: { ledger: ImageLedger; bandwidth: BandwidthController; egress: EgressMeter; config: StatusConfig; wal: Pick<WalWatch, 'pinned'> }): () => Promise<StatusSnapshot> {
  return async () => {
    const state = deps.bandwidth.state();
    return buildStatus({
      service: 'up',
      now: new Date(),
      summary: deps.ledger.summary(),
      rate: deps.bandwidth.effectiveRate(),
      configuredRate: deps.bandwidth.configuredRate(),
      limitedBy: state.limited_by,
      schedule: state.schedule,
      override: state.override,
      egressBytesPerSec: deps.egress.bytesPerSecond(),
      spoolBytes: deps.ledger.localBytes(deps.config.keepUploadedFiles),
      spoolMaxBytes: deps.config.spoolMaxBytes,
      disk: await filesystemSpace(deps.config.spoolDir),
      ledger: await ledgerFiles(path.join(deps.config.spoolDir, 'ledger.db'), deps.config.ledgerWalMaxBytes, deps.wal.pinned),
    });
  };
}
