import type { DayCount, Stats } from '../api/schemas/admin.js';
import { SpoolError } from '../errors.js';
import type { ImageMetadata } from '../meta/extract.js';
import type { Statement } from 'better-sqlite3';
import { BYTES_LOST_SQL } from './lost.js';
import { withoutFsync, type Db } from './open.js';
import { ROW_STATES, TRANSITIONS, type Absorbed, type EarlierReceipt, type ImageRow, type ImageState, type InsertResult, type LedgerRow, type NewImage, type Resolved, type RowState, type UploadOrder } from './types.js';

/** GET /admin/stats: the Stats schema (src/api/schemas/admin.ts). */
export type LedgerStats = Stats;

export interface BacklogSummary {
  queued: number;
  uploading: number;
  uploaded: number;
  dead: number;
  evicted: number;
  /** Receipts whose bytes another row holds (cross-device dedup). */
  duplicate: number;
  backlog_bytes: number;
  oldest_queued_at: string | null;
}

/**
 * All SQL about images lives here. Each state change is one statement guarded by the state it leaves,
 * so a transition the state machine does not allow changes nothing and is reported.
 */
export type OutcomeEvent = 'uploaded' | 'dead';
/** `receipts`: each receipt of the bytes whose outcome this is, with the row holding them. */
export type OutcomeHook = (event: OutcomeEvent, receipts: readonly Resolved[], now: Date) => void;

type DuplicateRowList = Array<Extract<LedgerRow, { state: 'duplicate' }>>;

export class ImageLedger {
  private readonly stmts;
  /** Last device served by the fair order; in memory, since a restart may start the round anywhere. */
  private fairCursor = '';
  private readonly outcomeHooks: OutcomeHook[] = [];
  private nextDue: Statement | null = null;
  private metadataStmts: Record<keyof typeof METADATA_SQL, Statement> | null = null;

  constructor(private readonly db: Db) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO images
        (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at, received_at, idempotency_key)
        VALUES (@id, @device_id, @sha256, @bytes, @content_type, @path, @s3_key, 'queued', 0, @received_at, @received_at, @idempotency_key)`),
      // A duplicate copies the original's bytes facts and metadata (it may be extracted already).
      insertDuplicate: db.prepare(`INSERT INTO images
        (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at, received_at, idempotency_key,
         duplicate_of, width, height, camera_make, camera_model, gps_lat, gps_lon, captured_at, captured_at_utc, orientation, metadata_at)
        SELECT @id, @device_id, sha256, bytes, content_type, NULL, NULL, 'duplicate', 0, @received_at, @received_at, @idempotency_key,
         id, width, height, camera_make, camera_model, gps_lat, gps_lon, captured_at, captured_at_utc, orientation, metadata_at
        FROM images WHERE id = @original`),
      // Live: its bytes are on disk or in S3 (dead too, when S3 refused them: an operator may requeue it, and one
      // upload serves all). Never a row whose bytes are lost (src/ledger/lost.ts).
      liveOriginal: db.prepare(`SELECT * FROM images WHERE sha256 = ? AND state IN ('queued', 'uploading', 'uploaded', 'dead')
        AND NOT ${BYTES_LOST_SQL} ORDER BY id LIMIT 1`),
      // A resend brought lost bytes back, into the row's own path: queued again, with a fresh attempt count.
      restore: db.prepare(`UPDATE images SET state = 'queued', attempts = 0, permanent_failures = 0, next_attempt_at = @now, claimed_at = NULL,
        last_error = 'stored again by a resend after: ' || coalesce(last_error, '?') WHERE id = @id AND path = @path AND ${BYTES_LOST_SQL}`),
      // Receipts of lost bytes share a copy of them that arrived again: their duplicates first, then the rows themselves.
      repointLost: db.prepare(`UPDATE images SET duplicate_of = @holder
        WHERE duplicate_of IN (SELECT id FROM images WHERE sha256 = @sha AND id <> @holder AND ${BYTES_LOST_SQL})`),
      lostPaths: db.prepare(`SELECT path FROM images WHERE sha256 = @sha AND id <> @holder AND ${BYTES_LOST_SQL}`),
      absorbLost: db.prepare(`UPDATE images SET state = 'duplicate', duplicate_of = @holder, path = NULL, s3_key = NULL
        WHERE sha256 = @sha AND id <> @holder AND ${BYTES_LOST_SQL}`),
      duplicatesOf: db.prepare('SELECT * FROM images WHERE duplicate_of = ? ORDER BY id'),
      byKey: db.prepare('SELECT * FROM images WHERE device_id = ? AND idempotency_key = ?'),
      bySha: db.prepare('SELECT * FROM images WHERE device_id = ? AND sha256 = ? ORDER BY id LIMIT 1'),
      get: db.prepare('SELECT * FROM images WHERE id = ?'),
      claimOldest: db.prepare(claimSql('ORDER BY received_at, id')),
      claimNewest: db.prepare(claimSql('ORDER BY received_at DESC, id DESC')),
      claimFair: db.prepare(claimSql('AND device_id > @cursor ORDER BY device_id, received_at, id')),
      uploaded: db.prepare(`UPDATE images SET state = 'uploaded', uploaded_at = @now, last_error = NULL
        WHERE id = @id AND state = 'uploading'`),
      retry: db.prepare(`UPDATE images SET state = 'queued', next_attempt_at = @next, last_error = @error,
        permanent_failures = permanent_failures + @permanent WHERE id = @id AND state = @from`),
      dead: db.prepare(`UPDATE images SET state = 'dead', last_error = @error
        WHERE id = @id AND state = @from`),
      release: db.prepare(`UPDATE images SET state = 'queued', attempts = max(attempts - 1, 0), next_attempt_at = @now
        WHERE id = @id AND state = 'uploading'`),
      requeueUploading: db.prepare(`UPDATE images SET state = 'queued' WHERE state = 'uploading'`),
      // One min() per state: each is a single seek in images_state_received (an IN list would scan the backlog).
      oldestQueued: db.prepare(`SELECT min(t) AS t FROM (SELECT min(received_at) AS t FROM images WHERE state = 'queued'
        UNION ALL SELECT min(received_at) FROM images WHERE state = 'uploading')`),
      pathsByState: db.prepare('SELECT id, path, bytes, state FROM images WHERE state IN (?, ?)'),
      stateOf: db.prepare('SELECT state FROM images WHERE id = ?'),
      oldestQueuedRows: db.prepare(`SELECT id, path, bytes FROM images WHERE state = 'queued' ORDER BY received_at, id LIMIT ?`),
      evict: db.prepare(`UPDATE images SET state = 'evicted', last_error = @reason WHERE id = @id AND state = 'queued'`),
      metadataPending: db.prepare(`SELECT id, path, content_type, state FROM images WHERE metadata_at IS NULL AND duplicate_of IS NULL ORDER BY id LIMIT ?`),
      statCounts: db.prepare('SELECT kind, key, n, bytes FROM stat_counts WHERE kind IN (\'receipts\', \'unique\', \'format\', \'state\')'),
      topModels: db.prepare(`SELECT key, n FROM stat_counts WHERE kind = 'model' AND key <> '' AND n > 0 ORDER BY n DESC, key LIMIT 10`),
      unknownModels: db.prepare(`SELECT coalesce(sum(n), 0) AS n FROM stat_counts WHERE kind = 'model' AND key = ''`),
      // 'day': uploads by uploaded_at (migration 0010); 'received_day': receipts by received_at (0017).
      days: db.prepare(`SELECT key, n, bytes FROM stat_counts WHERE kind = ? AND key >= ? ORDER BY key`),
      deadRows: db.prepare(`SELECT id, path, state FROM images WHERE state = 'dead' ORDER BY received_at, id`),
      requeueDead: db.prepare(`UPDATE images SET state = 'queued', attempts = 0, next_attempt_at = @now,
        last_error = 'requeued by operator after: ' || coalesce(last_error, '?') WHERE id = @id AND state = 'dead'`),
      // From the trigger-kept counters (migration 0010): constant time, and always in step with the rows.
      localBytes: db.prepare(`SELECT coalesce(sum(bytes), 0) AS b FROM stat_counts WHERE kind = 'state' AND key IN (${LOCAL_FILE_STATES})`),
      localBytesWithUploaded: db.prepare(`SELECT coalesce(sum(bytes), 0) AS b FROM stat_counts WHERE kind = 'state' AND key IN (${LOCAL_FILE_STATES}, 'uploaded')`),
      stateCounts: db.prepare(`SELECT key, n, bytes FROM stat_counts WHERE kind = 'state'`),
    };
  }

  /** The SQL of every statement by name, for query-plan checks (bench/ledger-scale.ts, tests). */
  get statements(): Record<string, string> {
    return { ...Object.fromEntries(Object.entries(this.stmts).map(([name, stmt]) => [name, stmt.source])), nextDue: NEXT_DUE_SQL, ...METADATA_SQL };
  }

  /**
   * Inserts many rows in one transaction: one WAL fsync acknowledges them all (group commit). A row the
   * device already sent (same Idempotency-Key, or same bytes) is not inserted: its earlier receipt is returned.
   * Bytes another device sent, still live, become a duplicate row pointing at the original. The checks run
   * inside the transaction, so two concurrent uploads of the same bytes cannot both store them.
   */
  insertMany(rows: readonly NewImage[]): InsertResult[] {
    return this.db.transaction((batch: readonly NewImage[]) => batch.map((row) => this.insertOne(row)))(rows);
  }

  private insertOne(row: NewImage): InsertResult {
    const { restores, ...full } = { ...row, idempotency_key: row.idempotency_key ?? null };
    const earlier = this.earlierReceipt(full);
    if (earlier) return restores === undefined ? earlier : this.restore(earlier, restores, full.path);
    // A file put at another row's path must never become a row of its own (the device's earlier receipt, found
    // before its file was placed, cannot vanish: receipts are never deleted).
    if (restores !== undefined) throw new SpoolError('ledger_unavailable', `image ${full.id}: the receipt whose bytes it restores is gone`);
    const original = this.liveOriginal(row.sha256);
    if (original) {
      this.stmts.insertDuplicate.run({ id: full.id, device_id: full.device_id, received_at: full.received_at, idempotency_key: full.idempotency_key, original: original.id });
      // Its outcome is known already: tell this receipt's device as the others were told.
      if ((original.state === 'uploaded' || original.state === 'dead') && this.outcomeHooks.length > 0) {
        const receipt: Resolved = { row: this.get(full.id) as LedgerRow, blob: original };
        for (const hook of this.outcomeHooks) hook(original.state, [receipt], new Date());
      }
      return { kind: 'duplicate_of', original, ...this.absorbLost(original.id, row.sha256) };
    }
    if (full.path === null) return { kind: 'needs_file' };
    this.stmts.insert.run(full);
    return { kind: 'inserted', ...this.absorbLost(full.id, row.sha256) };
  }

  /**
   * A resend whose file was put at the path of the row holding its earlier receipt's bytes: when that row had
   * lost them (lost.ts), it is queued again; otherwise (restored or requeued meanwhile) this is a plain resend.
   */
  private restore(earlier: EarlierReceipt, blobId: string, path: string | null): InsertResult {
    const blob = earlier.earlier.blob;
    if (earlier.kind !== 'resend' || blob.id !== blobId || path === null) return earlier;
    if (this.stmts.restore.run({ id: blob.id, path, now: new Date().toISOString() }).changes !== 1) return earlier;
    return { kind: 'restored', earlier: this.resolveRow(this.get(earlier.earlier.row.id) as LedgerRow), ...this.absorbLost(blob.id, blob.sha256) };
  }

  /**
   * Every other row that lost these bytes becomes a duplicate of `holder`, which has them now, and so do its
   * receipts: they are uploaded with it and told so. Returns the paths whose leftover files can go.
   */
  private absorbLost(holder: string, sha256: string): Absorbed {
    const paths = (this.stmts.lostPaths.all({ holder, sha: sha256 }) as Array<{ path: string }>).map((r) => r.path);
    if (paths.length === 0) return {};
    this.stmts.repointLost.run({ holder, sha: sha256 });
    this.stmts.absorbLost.run({ holder, sha: sha256 });
    return { absorbed: paths };
  }

  /** The oldest row holding these bytes, on disk or in S3, if any: new receipts of them become its duplicates. */
  liveOriginal(sha256: string): ImageRow | undefined {
    return this.stmts.liveOriginal.get(sha256) as ImageRow | undefined;
  }

  /** The device's earlier receipt for this upload: by Idempotency-Key when it sent one, else by its bytes. */
  earlierReceipt(row: Pick<ImageRow, 'device_id' | 'sha256' | 'idempotency_key'>): EarlierReceipt | undefined {
    if (row.idempotency_key !== null) {
      const earlier = this.stmts.byKey.get(row.device_id, row.idempotency_key) as LedgerRow | undefined;
      if (earlier) return { kind: earlier.sha256 === row.sha256 ? 'resend' : 'key_conflict', earlier: this.resolveRow(earlier) };
    }
    const earlier = this.stmts.bySha.get(row.device_id, row.sha256) as LedgerRow | undefined;
    return earlier ? { kind: 'resend', earlier: this.resolveRow(earlier) } : undefined;
  }

  get(id: string): LedgerRow | undefined {
    return this.stmts.get.get(id) as LedgerRow | undefined;
  }

  /** A receipt with the row that holds its bytes (GET /images/{id}, its status, notifications). */
  resolve(id: string): Resolved | undefined {
    const row = this.get(id);
    return row ? this.resolveRow(row) : undefined;
  }

  /** Receipts that share this original's bytes, oldest first. */
  duplicatesOf(id: string): DuplicateRowList {
    return this.stmts.duplicatesOf.all(id) as DuplicateRowList;
  }

  private resolveRow(row: LedgerRow): Resolved {
    if (row.state !== 'duplicate') return { row, blob: row };
    const blob = this.stmts.get.get(row.duplicate_of) as ImageRow | undefined;
    // The foreign key and the CHECKs of migration 0012 make this unreachable; say so loudly if it is not.
    if (!blob) throw new SpoolError('ledger_unavailable', `image ${row.id} is a duplicate of ${row.duplicate_of}, which the ledger does not hold`);
    return { row, blob };
  }

  /**
   * Claims the next due image in the given order, or returns undefined when none is due. Without a WAL fsync
   * of its own (withoutFsync): a claim lost to a power cut leaves the row queued, which is what start-up
   * recovery makes of every `uploading` row anyway; the upload's outcome is committed with one.
   */
  claimNext(now: Date, order: UploadOrder = 'oldest'): ImageRow | undefined {
    return withoutFsync(this.db, () => this.claim(now, order));
  }

  private claim(now: Date, order: UploadOrder): ImageRow | undefined {
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
    // Prepared on first use: `image-spool status` may read a ledger the running (older) service has not yet
    // migrated to 0014, and must not fail on an index it never uses.
    this.nextDue ??= this.db.prepare(NEXT_DUE_SQL);
    const row = this.nextDue.get() as { t: string | null };
    return row.t === null ? null : new Date(row.t);
  }

  markUploaded(id: string, now: Date): void {
    this.db.transaction(() => {
      expectChange(this.stmts.uploaded.run({ id, now: now.toISOString() }).changes, id, 'uploading', 'uploaded');
      this.settled('uploaded', id, now);
    })();
  }

  /** Back to the queue after a failed attempt; `permanent` counts the failure toward MAX_ATTEMPTS. */
  scheduleRetry(id: string, nextAttemptAt: Date, error: string, permanent = false): void {
    expectChange(this.stmts.retry.run({ id, from: 'uploading', next: nextAttemptAt.toISOString(), error, permanent: permanent ? 1 : 0 }).changes, id, 'uploading', 'queued');
  }

  markDead(id: string, from: ImageState, error: string): void {
    assertTransition(from, 'dead');
    this.db.transaction(() => {
      expectChange(this.stmts.dead.run({ id, from, error }).changes, id, from, 'dead');
      this.settled('dead', id, new Date());
    })();
  }

  /**
   * Registers a hook called inside the transaction that records an outcome (uploaded, dead), with every
   * receipt of those bytes: the record of the outcome and whatever the hook writes commit together or not at
   * all, so a crash in between cannot lose a notification. Also called for a duplicate that arrives after
   * its original's outcome. A hook must not throw.
   */
  onOutcome(hook: OutcomeHook): void {
    this.outcomeHooks.push(hook);
  }

  private settled(event: OutcomeEvent, id: string, now: Date): void {
    if (this.outcomeHooks.length === 0) return;
    const blob = this.stmts.get.get(id) as ImageRow;
    const receipts: Resolved[] = [{ row: blob, blob }, ...this.duplicatesOf(id).map((row) => ({ row, blob }))];
    for (const hook of this.outcomeHooks) hook(event, receipts, now);
  }

  /** Gives a claim back without counting it as an attempt (shutdown interrupted it, not S3). */
  release(id: string, now: Date): void {
    expectChange(this.stmts.release.run({ id, now: now.toISOString() }).changes, id, 'uploading', 'queued');
  }

  /** Startup recovery: no upload survives a restart, so every `uploading` row is queued again. */
  requeueAllUploading(): number {
    return this.stmts.requeueUploading.run().changes;
  }

  /**
   * SPOOL_FULL_POLICY=evict-oldest: marks the oldest queued images `evicted` (never one being uploaded)
   * until at least `bytes` are freed, in one transaction. Returns them so the caller can delete the files.
   */
  evictOldest(bytes: number, reason: string): Array<Pick<ImageRow, 'id' | 'path' | 'bytes'>> {
    type Victim = Pick<ImageRow, 'id' | 'path' | 'bytes'>;
    return this.db.transaction(() => {
      const evicted: Victim[] = [];
      let freed = 0;
      while (freed < bytes) {
        const batch = this.stmts.oldestQueuedRows.all(100) as Victim[];
        if (batch.length === 0) break;
        for (const row of batch) {
          if (freed >= bytes) break;
          this.stmts.evict.run({ id: row.id, reason });
          evicted.push(row);
          freed += row.bytes;
        }
      }
      return evicted;
    })();
  }

  /**
   * The metadata writes, prepared on first use: they name migration 0016's columns, and `image-spool status`
   * may read a ledger the running (older) service has not migrated yet.
   */
  private get metadata(): Record<keyof typeof METADATA_SQL, Statement> {
    this.metadataStmts ??= Object.fromEntries(Object.entries(METADATA_SQL).map(([name, sql]) => [name, this.db.prepare(sql)])) as Record<keyof typeof METADATA_SQL, Statement>;
    return this.metadataStmts;
  }

  /** Stores what extraction found (nulls included), and that it ran. No fsync of its own: see withoutFsync. */
  setMetadata(id: string, meta: ImageMetadata, at: Date): void {
    withoutFsync(this.db, () => this.metadata.setMetadata.run({ id, ...meta, at: at.toISOString() }));
  }

  /** Rows whose metadata extraction never started (a crash between ingest and extraction). */
  metadataPending(limit: number): Array<Pick<ImageRow, 'id' | 'path' | 'content_type' | 'state'>> {
    return this.stmts.metadataPending.all(limit) as Array<Pick<ImageRow, 'id' | 'path' | 'content_type' | 'state'>>;
  }

  /**
   * Records that the image's bytes are about to reach a parser, before they do: if the parser takes the
   * process down, the next start finds the row `extracting` and fails it instead of trying again. Without a
   * fsync (withoutFsync): only a power cut can lose it, and then the image is tried once more.
   */
  metadataStarted(id: string): void {
    withoutFsync(this.db, () => this.metadata.metadataStarted.run(id));
  }

  /** Extraction gave up on the image (timeout, memory, ...): no metadata, and never tried again. */
  metadataFailed(id: string, error: string, at: Date): void {
    withoutFsync(this.db, () => this.metadata.metadataFailed.run({ id, error, at: at.toISOString() }));
  }

  /** An attempt stopped by a shutdown, not by the image: untried again. */
  metadataReleased(id: string): void {
    withoutFsync(this.db, () => this.metadata.metadataReleased.run(id));
  }

  /** At start: every row an earlier run left `extracting` becomes failed with `error`; returns their ids. */
  failInterruptedMetadata(error: string, at: Date): string[] {
    return this.db.transaction(() => {
      const ids = (this.metadata.metadataUnfinished.all() as Array<{ id: string }>).map((r) => r.id);
      for (const id of ids) this.metadata.metadataFailed.run({ id, error, at: at.toISOString() });
      return ids;
    })();
  }

  /** GET /admin/stats: read from the trigger-kept counters (migration 0010), so constant time at any size. */
  stats(now: Date): LedgerStats {
    const rows = this.stmts.statCounts.all() as Array<{ kind: string; key: string; n: number; bytes: number }>;
    const one = (kind: string): { n: number; bytes: number } => rows.find((r) => r.kind === kind) ?? { n: 0, bytes: 0 };
    const state = (s: string): { n: number; bytes: number } => rows.find((r) => r.kind === 'state' && r.key === s) ?? { n: 0, bytes: 0 };
    const formats = rows.filter((r) => r.kind === 'format' && r.n > 0).sort((a, b) => b.n - a.n || a.key.localeCompare(b.key));
    const receipts = one('receipts');
    const unique = one('unique');
    return {
      most_popular_format: formats[0] ? { content_type: formats[0].key, images: formats[0].n } : null,
      formats: formats.map((f) => ({ content_type: f.key, images: f.n })),
      top_camera_models: (this.stmts.topModels.all() as Array<{ key: string; n: number }>).map((m) => ({ model: m.key, images: m.n })),
      unknown_camera_model: (this.stmts.unknownModels.get() as { n: number }).n,
      received_per_day: this.perDay('received_day', now),
      uploaded_per_day: this.perDay('day', now),
      receipts: receipts.n,
      unique_images: unique.n,
      duplicates: receipts.n - unique.n,
      backlog: { images: state('queued').n + state('uploading').n, bytes: state('queued').bytes + state('uploading').bytes },
      uploaded: { images: state('uploaded').n, bytes: state('uploaded').bytes },
      dead: state('dead').n,
      evicted: state('evicted').n,
    };
  }

  /** A per-day counter over the last 30 UTC days up to `now`, oldest first, zeros included. */
  private perDay(kind: 'day' | 'received_day', now: Date): DayCount[] {
    const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - 29));
    const rows = this.stmts.days.all(kind, first.toISOString().slice(0, 10)) as Array<{ key: string; n: number; bytes: number }>;
    const counted = new Map(rows.map((d) => [d.key, d]));
    return Array.from({ length: 30 }, (_, i) => {
      const date = new Date(first.getTime() + i * 86_400_000).toISOString().slice(0, 10);
      return { date, images: counted.get(date)?.n ?? 0, bytes: counted.get(date)?.bytes ?? 0 };
    });
  }

  /** Dead rows, oldest first (for requeue by state). */
  deadRows(): Array<Pick<ImageRow, 'id' | 'path' | 'state'>> {
    return this.stmts.deadRows.all() as Array<Pick<ImageRow, 'id' | 'path' | 'state'>>;
  }

  /** An operator's requeue: dead -> queued with a fresh attempt count; false when the row is not dead. */
  requeueDead(id: string, now: Date): boolean {
    return this.stmts.requeueDead.run({ id, now: now.toISOString() }).changes === 1;
  }

  /** Bytes of the image files the spool holds according to the ledger. */
  localBytes(includeUploaded: boolean): number {
    return ((includeUploaded ? this.stmts.localBytesWithUploaded : this.stmts.localBytes).get() as { b: number }).b;
  }

  /** Rows whose file should still be on disk. */
  rowsWithLocalFiles(): Array<Pick<ImageRow, 'id' | 'path' | 'bytes' | 'state'>> {
    return this.stmts.pathsByState.all('queued', 'uploading') as Array<Pick<ImageRow, 'id' | 'path' | 'bytes' | 'state'>>;
  }

  /** The state of one image, or undefined when the ledger has no such row. */
  stateOf(id: string): LedgerRow['state'] | undefined {
    return (this.stmts.stateOf.get(id) as { state: LedgerRow['state'] } | undefined)?.state;
  }

  /**
   * Images and bytes in each state, from the trigger-kept counters: constant time at any ledger size, so it
   * can answer every metrics scrape. 'duplicate' counts receipts whose bytes another row holds (bytes not stored twice).
   */
  stateTotals(): Record<RowState, { images: number; bytes: number }> {
    const totals = Object.fromEntries(ROW_STATES.map((s) => [s, { images: 0, bytes: 0 }])) as Record<RowState, { images: number; bytes: number }>;
    for (const row of this.stmts.stateCounts.all() as Array<{ key: string; n: number; bytes: number }>) {
      if (row.key in totals) totals[row.key as RowState] = { images: row.n, bytes: row.bytes };
    }
    return totals;
  }

  /** `received_at` of the oldest image not yet uploaded (queued or uploading), or null; an index lookup. */
  oldestWaitingAt(): string | null {
    return (this.stmts.oldestQueued.get() as { t: string | null }).t;
  }

  summary(): BacklogSummary {
    const summary: BacklogSummary = { queued: 0, uploading: 0, uploaded: 0, dead: 0, evicted: 0, duplicate: 0, backlog_bytes: 0, oldest_queued_at: null };
    for (const row of this.stmts.stateCounts.all() as Array<{ key: LedgerRow['state']; n: number; bytes: number }>) {
      summary[row.key] = row.n;
      if (row.key === 'queued' || row.key === 'uploading') summary.backlog_bytes += row.bytes;
    }
    summary.oldest_queued_at = (this.stmts.oldestQueued.get() as { t: string | null }).t;
    return summary;
  }
}

/**
 * One seek in the partial index of queued rows (migration 0014), whatever the size of the backlog. The index
 * is named because the planner prefers the full (state, ...) indexes and would read every queued row: 70-140 ms
 * at 100,000 queued (docs/BENCHMARKS.md, issue 7), on every idle turn of the uploader.
 */
const NEXT_DUE_SQL = `SELECT min(next_attempt_at) AS t FROM images INDEXED BY images_queued_due WHERE state = 'queued'`;

/**
 * Metadata writes (migration 0016 for the state). Each touches one row by primary key, or the few rows the
 * partial index images_metadata_pending holds; setMetadata and metadataFailed also the receipts sharing the
 * bytes (duplicate_of), so a duplicate's row says what its original's says.
 */
const METADATA_SQL = {
  setMetadata: `UPDATE images SET width = @width, height = @height, camera_make = @camera_make,
    camera_model = @camera_model, gps_lat = @gps_lat, gps_lon = @gps_lon, captured_at = @captured_at,
    captured_at_utc = @captured_at_utc, orientation = @orientation, metadata_at = @at, metadata_state = 'done', metadata_error = NULL
    WHERE id = @id OR duplicate_of = @id`,
  metadataStarted: `UPDATE images SET metadata_state = 'extracting' WHERE id = ? AND metadata_at IS NULL`,
  metadataFailed: `UPDATE images SET metadata_at = @at, metadata_state = 'failed', metadata_error = @error
    WHERE id = @id OR duplicate_of = @id`,
  metadataReleased: `UPDATE images SET metadata_state = NULL WHERE id = ? AND metadata_at IS NULL AND metadata_state = 'extracting'`,
  metadataUnfinished: `SELECT id FROM images WHERE metadata_at IS NULL AND duplicate_of IS NULL AND metadata_state = 'extracting'`,
} as const;

/** States whose image file stays in the spool (dead ones too: an operator may requeue them). */
const LOCAL_FILE_STATES = `'queued', 'uploading', 'dead'`;

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
