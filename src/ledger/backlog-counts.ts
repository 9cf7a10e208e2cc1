import type { BacklogSummary } from './images.js';
import type { Db } from './open.js';

const STATES = ['queued', 'uploading', 'uploaded', 'dead', 'evicted'] as const;

/**
 * The backlog summary for `status` (which `--watch` asks for every few seconds), from the counters the
 * triggers of migration 0010 keep: constant time, where `ImageLedger.summary()`'s GROUP BY over every row
 * holds the event loop ~250 ms at a million rows (measured). The oldest waiting image is one index probe
 * per state on (state, received_at, id).
 */
export class BacklogCounts {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      states: db.prepare(`SELECT key, n, bytes FROM stat_counts WHERE kind = 'state'`),
      oldest: db.prepare('SELECT min(received_at) AS t FROM images WHERE state = ?'),
    };
  }

  summary(): BacklogSummary {
    const summary: BacklogSummary = { queued: 0, uploading: 0, uploaded: 0, dead: 0, evicted: 0, backlog_bytes: 0, oldest_queued_at: null };
    for (const row of this.stmts.states.all() as Array<{ key: string; n: number; bytes: number }>) {
      const state = STATES.find((s) => s === row.key);
      if (state === undefined) continue; // a state this summary does not report
      summary[state] = row.n;
      if (state === 'queued' || state === 'uploading') summary.backlog_bytes += row.bytes;
    }
    const oldest = ['queued', 'uploading']
      .map((s) => (this.stmts.oldest.get(s) as { t: string | null }).t)
      .filter((t): t is string => t !== null)
      .sort();
    summary.oldest_queued_at = oldest[0] ?? null;
    return summary;
  }
}
