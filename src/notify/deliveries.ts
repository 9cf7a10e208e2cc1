import type { Db } from '../ledger/open.js';

export const NOTIFY_EVENTS = ['uploaded', 'dead'] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export const DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A row of `notify_deliveries` (migrations/0008_notify_deliveries.sql), as stored. */
export interface DeliveryRow {
  id: number;
  image_id: string;
  event: NotifyEvent;
  /** The exact JSON POSTed and signed, the same on every attempt. */
  body: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: string;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

/**
 * All SQL about webhook deliveries. Outcomes are guarded by `state = 'pending'`, so a delivery that is
 * already delivered or failed is never changed again.
 */
export class DeliveryLedger {
  private readonly stmts;

  constructor(private readonly db: Db) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO notify_deliveries (image_id, event, body, state, attempts, next_attempt_at, created_at)
        VALUES (@image_id, @event, @body, 'pending', 0, @now, @now)`),
      due: db.prepare(`SELECT * FROM notify_deliveries WHERE state = 'pending' AND next_attempt_at <= @now
        ORDER BY next_attempt_at, id LIMIT @limit`),
      nextDueAfter: db.prepare(`SELECT min(next_attempt_at) AS t FROM notify_deliveries WHERE state = 'pending' AND next_attempt_at > @now`),
      delivered: db.prepare(`UPDATE notify_deliveries SET state = 'delivered', attempts = attempts + 1, last_status = @status,
        last_error = NULL, delivered_at = @now WHERE id = @id AND state = 'pending'`),
      retry: db.prepare(`UPDATE notify_deliveries SET attempts = attempts + 1, last_status = @status, last_error = @error,
        next_attempt_at = @next WHERE id = @id AND state = 'pending'`),
      failed: db.prepare(`UPDATE notify_deliveries SET state = 'failed', attempts = attempts + 1, last_status = @status,
        last_error = @error WHERE id = @id AND state = 'pending'`),
      get: db.prepare('SELECT * FROM notify_deliveries WHERE id = ?'),
      all: db.prepare('SELECT * FROM notify_deliveries ORDER BY id'),
      pending: db.prepare(`SELECT count(*) AS n FROM notify_deliveries WHERE state = 'pending'`),
      pruneFinished: db.prepare(`DELETE FROM notify_deliveries WHERE id IN
        (SELECT id FROM notify_deliveries WHERE state <> 'pending' AND created_at < @before LIMIT @limit)`),
    };
  }

  /** Records a notification to send (due at once); returns its delivery id. */
  insert(imageId: string, event: NotifyEvent, body: string, now: Date): number {
    return Number(this.stmts.insert.run({ image_id: imageId, event, body, now: now.toISOString() }).lastInsertRowid);
  }

  /** Records several notifications in one transaction (one per receipt of the same bytes). */
  insertMany(items: ReadonlyArray<{ imageId: string; event: NotifyEvent; body: string }>, now: Date): void {
    this.db.transaction(() => {
      for (const item of items) this.insert(item.imageId, item.event, item.body, now);
    })();
  }

  /** Deletes up to `limit` delivered or failed rows created before `before`; returns how many. */
  pruneFinished(before: Date, limit: number): number {
    return this.stmts.pruneFinished.run({ before: before.toISOString(), limit }).changes;
  }

  /** Pending deliveries due at `now`, earliest first. */
  due(now: Date, limit: number): DeliveryRow[] {
    return this.stmts.due.all({ now: now.toISOString(), limit }) as DeliveryRow[];
  }

  /** When the next pending delivery not yet due becomes due, or null when there is none. */
  nextDueAfter(now: Date): Date | null {
    const row = this.stmts.nextDueAfter.get({ now: now.toISOString() }) as { t: string | null };
    return row.t === null ? null : new Date(row.t);
  }

  markDelivered(id: number, status: number, now: Date): void {
    this.stmts.delivered.run({ id, status, now: now.toISOString() });
  }

  scheduleRetry(id: number, status: number | null, error: string, next: Date): void {
    this.stmts.retry.run({ id, status, error, next: next.toISOString() });
  }

  markFailed(id: number, status: number | null, error: string): void {
    this.stmts.failed.run({ id, status, error });
  }

  get(id: number): DeliveryRow | undefined {
    return this.stmts.get.get(id) as DeliveryRow | undefined;
  }

  all(): DeliveryRow[] {
    return this.stmts.all.all() as DeliveryRow[];
  }

  pendingCount(): number {
    return (this.stmts.pending.get() as { n: number }).n;
  }
}
