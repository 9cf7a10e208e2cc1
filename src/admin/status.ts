import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import type { BacklogSummary, ImageLedger } from '../ledger/images.js';
import { lockHolders } from '../ledger/lock-holders.js';
import type { WalWatch } from '../ledger/wal-watch.js';
import { backlogReport, type BandwidthController } from '../throttle/bandwidth-controller.js';
import type { EgressMeter } from '../throttle/egress-meter.js';
import { formatRate, type BytesPerSecond } from '../throttle/rate.js';

/**
 * Where the configured cap comes from: the operator's override, or the UPLOAD_BWLIMIT schedule (set or its
 * default). One name everywhere: the log, `bwlimit`, the status page and `image-spool status` all say `schedule`.
 */
export type CapSource = 'override' | 'schedule';

/** `GET /admin/status` and `image-spool status --json`: one snapshot of what an operator watches. */
export interface StatusSnapshot {
  /** `down` when the CLI could not reach the service and read the ledger instead. */
  service: 'up' | 'down';
  at: string;
  backlog: {
    images: number;
    bytes: number;
    queued: number;
    uploading: number;
    oldest_queued_at: string | null;
    oldest_queued_age_seconds: number | null;
  };
  /** `duplicates`: receipts of bytes another receipt holds (stored and uploaded once). */
  totals: { uploaded: number; dead: number; evicted: number; duplicates: number };
  /** Bytes/s through the shared budget over the last ~5 s; null when the service is down. */
  egress_bytes_per_sec: number | null;
  cap: {
    /** What uploads may use now (null = unlimited): the configured cap, or less under UPLINK_SHARE. */
    rate_bytes_per_sec: number | null;
    rate: string;
    configured_rate_bytes_per_sec: number | null;
    source: CapSource;
    limited_by: 'cap' | 'uplink_share';
    schedule: string;
    override: string | null;
  };
  /** Backlog bytes / rate, rounded up; null when unlimited. */
  drain_eta_seconds: number | null;
  disk: {
    /** Image bytes the spool holds (queued, uploading, dead; uploaded too with KEEP_UPLOADED_FILES). */
    spool_bytes: number;
    /** SPOOL_MAX_BYTES, null when unlimited. */
    spool_max_bytes: number | null;
    /** statfs of SPOOL_DIR: bytes available to the service's user, and the filesystem's size. */
    free_bytes: number;
    total_bytes: number;
  };
  /** The ledger's files, and what other processes' transactions do to them (issue 18). */
  ledger: LedgerFiles;
}

export interface LedgerFiles {
  /** Size of ledger.db-wal on disk. */
  wal_bytes: number;
  /** LEDGER_WAL_MAX_BYTES: checkpointed back under it once no reader pins it. */
  wal_max_bytes: number;
  /** A read transaction keeps the WAL over the limit; null when not known (service down, or no background checkpoints). */
  wal_pinned: boolean | null;
  /** Other processes holding the write lock, as "pid 4242 (sqlite3)": ingest answers 503 ledger_busy meanwhile. Null: cannot tell (no /proc/locks). */
  locked_by: string[] | null;
  /** Other processes in a read transaction on a WAL snapshot (they keep the WAL from shrinking). Null: cannot tell. */
  readers: string[] | null;
}

export interface StatusInputs {
  service: 'up' | 'down';
  now: Date;
  summary: BacklogSummary;
  rate: BytesPerSecond;
  configuredRate: BytesPerSecond;
  source: CapSource;
  schedule: string;
  override: string | null;
  egressBytesPerSec: number | null;
  spoolBytes: number;
  spoolMaxBytes: number;
  disk: { free_bytes: number; total_bytes: number };
  ledger: LedgerFiles;
}

export function capSource(override: string | null): CapSource {
  return override === null ? 'schedule' : 'override';
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
      source: i.source,
      limited_by: i.rate < i.configuredRate ? 'uplink_share' : 'cap',
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
      source: capSource(state.override),
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
