import type { BacklogSummary } from '../ledger/images.js';
import { formatRate, type BytesPerSecond } from '../throttle/rate.js';

/** One line for STATUS= (`systemctl status image-spool` shows it): what waits, and how soon it drains. */
export function statusLine(summary: BacklogSummary, rate: BytesPerSecond): string {
  const waiting = summary.queued + summary.uploading;
  const eta = Number.isFinite(rate) && rate > 0 ? `drains in ${formatSeconds(Math.ceil(summary.backlog_bytes / rate))}` : 'no upload limit';
  const oldest = summary.oldest_queued_at === null ? '' : `, oldest queued ${summary.oldest_queued_at}`;
  return `backlog ${waiting} images (${(summary.backlog_bytes / 1e6).toFixed(1)} MB, ${summary.uploading} uploading${oldest}); ` +
    `budget ${formatRate(rate)}, ${eta}; dead ${summary.dead}`;
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60 === 0 ? '' : ` ${seconds % 60}s`}`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}
