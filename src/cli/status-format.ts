import type { StatusSnapshot } from '../admin/status.js';
import { formatRate } from '../throttle/rate.js';
import { formatBytes, formatDuration } from './format.js';

/** The first line of every block starts with this (`--watch` without a TTY prints one block per refresh). */
export const STATUS_HEADER = 'image-spool status at';

/** The human block of `image-spool status`. `where` says where the figures came from. */
export function formatStatus(s: StatusSnapshot, where: string): string {
  const b = s.backlog;
  const up = s.service === 'up';
  const oldest = b.oldest_queued_age_seconds === null ? 'nothing waiting' : `oldest waiting ${formatDuration(b.oldest_queued_age_seconds)} (since ${b.oldest_queued_at ?? '?'})`;
  const eta = s.drain_eta_seconds === null ? 'no limit: as fast as the link allows' : b.bytes === 0 ? 'nothing to drain' : `${formatDuration(s.drain_eta_seconds)} at the cap`;
  const d = s.disk;
  const used = d.total_bytes > 0 ? Math.round((100 * (d.total_bytes - d.free_bytes)) / d.total_bytes) : 0;
  return [
    `${STATUS_HEADER} ${s.at}: service ${up ? 'up' : 'DOWN'} (${where})`,
    `backlog    ${b.images} images, ${formatBytes(b.bytes)} (queued ${b.queued}, uploading ${b.uploading}); ${oldest}`,
    `egress     ${s.egress_bytes_per_sec === null ? 'none (service down)' : formatRate(s.egress_bytes_per_sec)}`,
    `cap        ${capLine(s.cap)}${up ? '' : ' (when the service runs)'}`,
    `drain ETA  ${eta}`,
    `disk       spool holds ${formatBytes(d.spool_bytes)}${d.spool_max_bytes === null ? '' : ` of ${formatBytes(d.spool_max_bytes)} (SPOOL_MAX_BYTES)`}; ` +
      `filesystem ${formatBytes(d.free_bytes)} free of ${formatBytes(d.total_bytes)} (${used}% used)`,
    `totals     uploaded ${s.totals.uploaded}, dead ${s.totals.dead}, evicted ${s.totals.evicted}, duplicates ${s.totals.duplicates}`,
    `ledger     ${ledgerLine(s.ledger)}`,
  ].join('\n');
}

/** The WAL's size, and the other processes whose transactions hold it up or lock it. */
function ledgerLine(l: StatusSnapshot['ledger']): string {
  const parts = [`WAL ${formatBytes(l.wal_bytes)} (LEDGER_WAL_MAX_BYTES ${formatBytes(l.wal_max_bytes)})`];
  if (l.locked_by !== null && l.locked_by.length > 0) parts.push(`LOCKED by ${l.locked_by.join(', ')}: images are refused (503 ledger_busy) until its transaction ends`);
  if (l.wal_pinned === true || (l.readers !== null && l.readers.length > 0)) {
    const who = l.readers !== null && l.readers.length > 0 ? l.readers.join(', ') : 'another process';
    parts.push(`${l.wal_pinned === true ? 'pinned' : 'held'} by a read transaction in ${who}: the WAL cannot shrink until it ends`);
  }
  return parts.join('; ');
}

function capLine(cap: StatusSnapshot['cap']): string {
  const configured = formatRate(cap.configured_rate_bytes_per_sec ?? Infinity);
  const source = cap.source === 'override'
    ? `override ${JSON.stringify(cap.override)} (\`image-spool bwlimit --clear\` returns to UPLOAD_BWLIMIT)`
    : `schedule ${JSON.stringify(cap.schedule)} (UPLOAD_BWLIMIT)`;
  const limited = cap.limited_by === 'uplink_share' ? `, lowered to ${cap.rate} by UPLINK_SHARE`
    : cap.limited_by === 'budget_fallback' ? `, lowered to ${cap.rate}: Redis is unreachable, so this gateway takes cap / GATEWAY_COUNT` : '';
  return `${configured} from ${source}${limited}`;
}
