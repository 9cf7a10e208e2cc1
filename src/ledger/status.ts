import { newId } from '../ids.js';
import type { Db } from './open.js';

export interface RecentUpload {
  id: string;
  device_id: string;
  bytes: number;
  content_type: string;
  camera_model: string | null;
  uploaded_at: string;
}

export interface DeadImage {
  id: string;
  device_id: string;
  attempts: number;
  last_error: string | null;
  received_at: string;
}

export interface DeviceActivity {
  device_id: string;
  /** Queued and uploading now. */
  backlog: number;
  received_last_hour: number;
  uploaded_last_hour: number;
  /** Latest receipt within the hour; null when the device sent nothing in it. */
  last_received_at: string | null;
}

/** Images and bytes per state, and all receipts, from the trigger-kept counters (migration 0010). */
export interface StateCounts {
  receipts: number;
  states: Record<string, { images: number; bytes: number }>;
}

/**
 * The status page's reads, each along an index (test/integration/status-page checks the query plans):
 * counters instead of counting, `LIMIT` walks of an index for the recent rows, and per-device numbers only
 * for what is waiting (images_state_device_received, O(backlog): 1 ms for 10k queued, 85 ms for a million)
 * and for the last hour (the ULID primary key and images_uploaded_at, O(an hour's traffic)). Never a count
 * over the whole table, whose cost grows with the ledger (72 ms at a million rows by a covering index).
 */
export class StatusQueries {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      counts: db.prepare(`SELECT kind, key, n, bytes FROM stat_counts WHERE kind IN ('state', 'receipts')`),
      oldestQueued: db.prepare(`SELECT min(received_at) AS t FROM images WHERE state IN ('queued', 'uploading')`),
      recentUploads: db.prepare(`SELECT id, device_id, bytes, content_type, camera_model, uploaded_at FROM images
        WHERE uploaded_at IS NOT NULL ORDER BY uploaded_at DESC LIMIT ?`),
      recentDead: db.prepare(`SELECT id, device_id, attempts, last_error, received_at FROM images
        WHERE state = 'dead' ORDER BY received_at DESC, id DESC LIMIT ?`),
      backlogByDevice: db.prepare(`SELECT device_id, count(*) AS n FROM images WHERE state = ? GROUP BY device_id`),
      // `+device_id` keeps the planner from grouping along an index by device (a scan of every row) instead
      // of walking the hour's range: measured 1.6 s against 0.5 ms at a million rows.
      receivedSince: db.prepare(`SELECT device_id, count(*) AS n, max(received_at) AS last FROM images
        WHERE id >= ? GROUP BY +device_id`),
      uploadedSince: db.prepare(`SELECT device_id, count(*) AS n FROM images WHERE uploaded_at >= ? GROUP BY +device_id`),
    };
  }

  /** The SQL of every read, for tests that check the query plans. */
  get statements(): Record<string, string> {
    return Object.fromEntries(Object.entries(this.stmts).map(([name, stmt]) => [name, stmt.source]));
  }

  counts(): StateCounts {
    const out: StateCounts = { receipts: 0, states: {} };
    for (const row of this.stmts.counts.all() as Array<{ kind: string; key: string; n: number; bytes: number }>) {
      if (row.kind === 'receipts') out.receipts = row.n;
      else out.states[row.key] = { images: row.n, bytes: row.bytes };
    }
    return out;
  }

  oldestQueuedAt(): string | null {
    return (this.stmts.oldestQueued.get() as { t: string | null }).t;
  }

  recentUploads(limit: number): RecentUpload[] {
    return this.stmts.recentUploads.all(limit) as RecentUpload[];
  }

  recentDead(limit: number): DeadImage[] {
    return this.stmts.recentDead.all(limit) as DeadImage[];
  }

  /**
   * Devices with a backlog or traffic in the hour before `now`: most backlog first, then most received,
   * at most `limit` of them; `total` says how many there were.
   */
  devices(now: Date, limit: number): { rows: DeviceActivity[]; total: number } {
    const hourAgo = now.getTime() - 3_600_000;
    const byDevice = new Map<string, DeviceActivity>();
    const entry = (device_id: string): DeviceActivity => {
      let d = byDevice.get(device_id);
      if (!d) byDevice.set(device_id, d = { device_id, backlog: 0, received_last_hour: 0, uploaded_last_hour: 0, last_received_at: null });
      return d;
    };
    for (const state of ['queued', 'uploading']) {
      for (const r of this.stmts.backlogByDevice.all(state) as Array<{ device_id: string; n: number }>) entry(r.device_id).backlog += r.n;
    }
    // Ids are ULIDs: their first 10 characters are the receive time, so an id range is a time range.
    const firstIdOfHour = newId(hourAgo).slice(0, 10);
    for (const r of this.stmts.receivedSince.all(firstIdOfHour) as Array<{ device_id: string; n: number; last: string }>) {
      const d = entry(r.device_id);
      d.received_last_hour = r.n;
      d.last_received_at = r.last;
    }
    for (const r of this.stmts.uploadedSince.all(new Date(hourAgo).toISOString()) as Array<{ device_id: string; n: number }>) {
      entry(r.device_id).uploaded_last_hour = r.n;
    }
    const rows = [...byDevice.values()].sort((a, b) =>
      b.backlog - a.backlog || b.received_last_hour - a.received_last_hour || (a.device_id < b.device_id ? -1 : a.device_id > b.device_id ? 1 : 0));
    return { rows: rows.slice(0, limit), total: rows.length };
  }
}
