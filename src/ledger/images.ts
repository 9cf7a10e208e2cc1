import { SpoolError } from '../errors.js';
import type { Db } from './open.js';
import { TRANSITIONS, type ImageRow, type ImageState, type NewImage, type UploadOrder } from './types.js';

export interface BacklogSummary {
  queued: number;
  uploading: number;
  uploaded: number;
  dead: number;
  backlog_bytes: number;
  oldest_queued_at: string | null;
}

/**
 * All SQL about images lives here. Each state change is one statement guarded by the state it leaves,
 * so a transition the state machine does not allow changes nothing and is reported.
 */
export class ImageLedger {
  private readonly stmts;
  /** Last device served by the fair order; in memory, since a restart may start the round anywhere. */
  private fairCursor = '';

  constructor(private readonly db: Db) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO images
        (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at, received_at)
        VALUES (@id, @device_id, @sha256, @bytes, @content_type, @path, @s3_key, 'queued', 0, @received_at, @received_at)`),
      get: db.prepare('SELECT * FROM images WHERE id = ?'),
      claimOldest: db.prepare(claimSql('ORDER BY received_at, id')),
      claimNewest: db.prepare(claimSql('ORDER BY received_at DESC, id DESC')),
      claimFair: db.prepare(claimSql('AND device_id > @cursor ORDER BY device_id, received_at, id')),
      nextDue: db.prepare(`SELECT min(next_attempt_at) AS t FROM images WHERE state = 'queued'`),
      uploaded: db.prepare(`UPDATE images SET state = 'uploaded', uploaded_at = @now, last_error = NULL
        WHERE id = @id AND state = 'uploading'`),
      retry: db.prepare(`UPDATE images SET state = 'queued', next_attempt_at = @next, last_error = @error
        WHERE id = @id AND state = @from`),
      dead: db.prepare(`UPDATE images SET state = 'dead', last_error = @error
        WHERE id = @id AND state = @from`),
      release: db.prepare(`UPDATE images SET state = 'queued', attempts = max(attempts - 1, 0), next_attempt_at = @now
        WHERE id = @id AND state = 'uploading'`),
      requeueUploading: db.prepare(`UPDATE images SET state = 'queued' WHERE state = 'uploading'`),
      counts: db.prepare(`SELECT state, count(*) AS n, coalesce(sum(bytes), 0) AS b FROM images GROUP BY state`),
      oldestQueued: db.prepare(`SELECT min(received_at) AS t FROM images WHERE state IN ('queued', 'uploading')`),
      pathsByState: db.prepare('SELECT id, path, bytes, state FROM images WHERE state IN (?, ?)'),
      stateOf: db.prepare('SELECT state FROM images WHERE id = ?'),
    };
  }

  /** Inserts many rows in one transaction: one WAL fsync acknowledges them all (group commit). */
  insertMany(rows: readonly NewImage[]): void {
    this.db.transaction((batch: readonly NewImage[]) => {
      for (const row of batch) this.stmts.insert.run(row);
    })(rows);
  }

  get(id: string): ImageRow | undefined {
    return this.stmts.get.get(id) as ImageRow | undefined;
  }

  /** Claims the next due image in the given order, or returns undefined when none is due. */
  claimNext(now: Date, order: UploadOrder = 'oldest'): ImageRow | undefined {
    const at = now.toISOString();
    if (order === 'oldest') return this.stmts.claimOldest.get({ now: at }) as ImageRow | undefined;
    if (order === 'newest') return this.stmts.claimNewest.get({ now: at }) as ImageRow | undefined;
    // fair: the next device after the last one served (wrapping round), then its oldest due image.
    const row = (this.stmts.claimFair.get({ now: at, cursor: this.fairCursor }) ??
      this.stmts.claimFair.get({ now: at, cursor: '' })) as ImageRow | undefined;
    if (row) this.fairCursor = row.device_id;
    return row;
  }

  /** When the earliest queued image becomes due (it may already be), or null with an empty queue. */
  nextDueAt(): Date | null {
    const row = this.stmts.nextDue.get() as { t: string | null };
    return row.t === null ? null : new Date(row.t);
  }

  markUploaded(id: string, now: Date): void {
    expectChange(this.stmts.uploaded.run({ id, now: now.toISOString() }).changes, id, 'uploading', 'uploaded');
  }

  scheduleRetry(id: string, nextAttemptAt: Date, error: string): void {
    expectChange(this.stmts.retry.run({ id, from: 'uploading', next: nextAttemptAt.toISOString(), error }).changes, id, 'uploading', 'queued');
  }

  markDead(id: string, from: ImageState, error: string): void {
    assertTransition(from, 'dead');
    expectChange(this.stmts.dead.run({ id, from, error }).changes, id, from, 'dead');
  }

  /** Gives a claim back without counting it as an attempt (shutdown interrupted it, not S3). */
  release(id: string, now: Date): void {
    expectChange(this.stmts.release.run({ id, now: now.toISOString() }).changes, id, 'uploading', 'queued');
  }

  /** Startup recovery: no upload survives a restart, so every `uploading` row is queued again. */
  requeueAllUploading(): number {
    return this.stmts.requeueUploading.run().changes;
  }

  /** Rows whose file should still be on disk. */
  rowsWithLocalFiles(): Array<Pick<ImageRow, 'id' | 'path' | 'bytes' | 'state'>> {
    return this.stmts.pathsByState.all('queued', 'uploading') as Array<Pick<ImageRow, 'id' | 'path' | 'bytes' | 'state'>>;
  }

  /** The state of one image, or undefined when the ledger has no such row. */
  stateOf(id: string): ImageState | undefined {
    return (this.stmts.stateOf.get(id) as { state: ImageState } | undefined)?.state;
  }

  summary(): BacklogSummary {
    const summary: BacklogSummary = { queued: 0, uploading: 0, uploaded: 0, dead: 0, backlog_bytes: 0, oldest_queued_at: null };
    for (const row of this.stmts.counts.all() as Array<{ state: ImageState; n: number; b: number }>) {
      summary[row.state] = row.n;
      if (row.state === 'queued' || row.state === 'uploading') summary.backlog_bytes += row.b;
    }
    summary.oldest_queued_at = (this.stmts.oldestQueued.get() as { t: string | null }).t;
    return summary;
  }
}

function claimSql(order: string): string {
  return `UPDATE images SET state = 'uploading', attempts = attempts + 1, claimed_at = @now
    WHERE id = (SELECT id FROM images WHERE state = 'queued' AND next_attempt_at <= @now ${order} LIMIT 1)
    RETURNING *`;
}

function assertTransition(from: ImageState, to: ImageState): void {
  if (!TRANSITIONS[from].includes(to)) {
    throw new SpoolError('invalid_state_transition', `transition ${from} -> ${to} is not allowed`);
  }
}

function expectChange(changes: number, id: string, from: ImageState, to: ImageState): void {
  if (changes !== 1) {
    throw new SpoolError('invalid_state_transition', `image ${id}: expected state ${from} for ${from} -> ${to}, row not changed`);
  }
}
