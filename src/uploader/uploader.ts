import { EventEmitter } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import { isLedgerBusy } from '../ledger/busy.js';
import type { ImageLedger } from '../ledger/images.js';
import type { ImageRow, UploadOrder } from '../ledger/types.js';
import type { Logger } from '../log.js';
import type { MultipartLedger } from '../ledger/multipart.js';
import { abortMultipart, putMultipart, type MultipartResume } from '../s3/multipart-upload.js';
import { putImage, type PutImageInput, type PutImageResult, type UploadTiming } from '../s3/put-image.js';
import type { SpoolStore } from '../spool/store.js';
import { verifySpooledFile } from '../spool/verify.js';
import type { TokenBucket } from '../throttle/token-bucket.js';
import { backoffDelayMs } from './backoff.js';
import { classifyFailure, describeFailure } from './classify.js';
import { OwedOutcomes } from './owed-outcomes.js';
import type { ConcurrencyPolicy } from './concurrency.js';

/** Where uploads report what they saw of the path, and which upload sends a probe train (UPLINK_SHARE). */
export interface LinkObserver {
  claimProbe(fileBytes: number): number;
  abandonProbe(): void;
  observe(timing: UploadTiming): void;
}

export interface UploaderOptions {
  ledger: ImageLedger;
  store: SpoolStore;
  client: S3Client;
  throttle: TokenBucket;
  log: Logger;
  bucket: string;
  concurrency: ConcurrencyPolicy;
  link?: LinkObserver;
  order: UploadOrder;
  stallTimeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  keepUploadedFiles: boolean;
  /** Images larger than this go up as multipart uploads in parts of this size (UPLOAD_PART_SIZE). */
  partSize: number;
  multipart: MultipartLedger;
  /** Longest idle sleep between queue checks; new ingests wake workers at once. @default 1000 */
  pollMs?: number;
  /** While paused by a systemic failure: a cheap request that succeeds once S3 is usable again (HeadBucket). */
  probe: () => Promise<unknown>;
  /** First probe after a pause; doubles up to 60 s. @default 2000 */
  probeBaseMs?: number;
  /** Resolves once every ingest commit made so far is on disk (WalSync.caughtUp); absent when commits are durable as they return. */
  durable?: () => Promise<void>;
}

/** Why the uploader is not uploading: a systemic failure (credentials, bucket, clock, endpoint) and since when. */
export interface PauseState {
  reason: string;
  since: string;
  probes: number;
}

export interface UploaderEvents {
  'image:uploaded': [row: ImageRow];
  'image:retry': [row: ImageRow, error: string];
  'image:dead': [row: ImageRow, error: string];
  /**
   * The claim went back to the queue without spending an attempt: shutdown, a systemic failure (pause), or a
   * ledger write during the upload (multipart parts) that met another process's lock.
   */
  'image:released': [row: ImageRow, reason: 'shutdown' | 'systemic' | 'ledger_busy'];
  'paused': [state: PauseState];
  'resumed': [];
}

/** While another process holds the ledger's write lock, claims are tried this often. */
const LEDGER_LOCKED_PAUSE_MS = 200;

class ShutdownAbort extends Error {
  constructor() {
    super('uploader stopping');
    this.name = 'ShutdownAbort';
  }
}

/**
 * Claims due images from the ledger, `concurrency` at a time, and streams each through the shared
 * throttle into S3. All scheduling state (attempts, next_attempt_at, last_error) lives in the ledger,
 * so a restart continues exactly where the last process stopped.
 */
export class Uploader extends EventEmitter<UploaderEvents> {
  private readonly stopController = new AbortController();
  private workers: Promise<void>[] = [];
  private wakers = new Set<() => void>();
  private inFlight = 0;
  private stopping = false;
  private pauseState: PauseState | null = null;
  /** Outcomes of finished attempts, and those the ledger refused to record yet. */
  private readonly outcomes: OwedOutcomes;

  constructor(private readonly o: UploaderOptions) {
    super();
    this.outcomes = new OwedOutcomes(o.log);
  }

  get active(): number {
    return this.inFlight;
  }

  /** Null while uploading normally. */
  get paused(): PauseState | null {
    return this.pauseState;
  }

  start(): void {
    for (let i = 0; i < this.o.concurrency.max; i++) this.workers.push(this.workerLoop(i));
  }

  /** A new image is queued: wake idle workers now instead of at their next poll. */
  notify(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /** Stops claiming; lets in-flight uploads finish for up to `graceMs`, then aborts them (rows go back to queued). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.notify();
    const all = Promise.all(this.workers);
    const timer = setTimeout(() => this.stopController.abort(new ShutdownAbort()), graceMs);
    try {
      await all;
    } finally {
      clearTimeout(timer);
    }
    if (this.outcomes.size > 0) await this.outcomes.retry();
    // Their rows stay `uploading`: startup recovery queues them again, and a resend lands on the same key.
    if (this.outcomes.size > 0) this.o.log.warn({ images: this.outcomes.ids() }, 'stopping with upload outcomes the ledger did not take (locked or failing); they are redone after the restart');
  }

  private async workerLoop(index: number): Promise<void> {
    while (!this.stopping) {
      if (this.pauseState !== null || index >= this.o.concurrency.target(this.o.throttle.rate)) {
        // Parked, not idle: waking at the next due time would make spare workers spin on a full queue.
        await this.idle(true);
        continue;
      }
      try {
        if (this.outcomes.size > 0) await this.outcomes.retry();
        const row = this.o.ledger.claimNext(new Date(), this.o.order);
        if (row) await this.uploadOne(row);
        else await this.idle();
      } catch (err) {
        if (isLedgerBusy(err)) {
          // Another process holds the write lock: nothing is wrong with any image; claim again shortly.
          this.outcomes.locked('claim');
          await this.pauseFor(LEDGER_LOCKED_PAUSE_MS);
          continue;
        }
        // A ledger failure (disk full, I/O error) must not kill the worker: log, pause, and try again.
        this.o.log.error({ err: describeFailure(err) }, 'uploader worker error; pausing before the next claim');
        await this.idle();
      }
    }
  }

  private idle(parked = false): Promise<void> {
    const poll = this.o.pollMs ?? 1000;
    let due: Date | null = null;
    try {
      if (!parked) due = this.o.ledger.nextDueAt();
    } catch {
      // A broken ledger is reported by the caller; just wait one poll interval.
    }
    return this.pauseFor(due === null ? poll : Math.min(poll, Math.max(10, due.getTime() - Date.now())));
  }

  /** Sleeps `wait` ms, or until notify(). */
  private pauseFor(wait: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.wakers.add(done);
    });
  }

  private async uploadOne(row: ImageRow): Promise<void> {
    const started = Date.now();
    const path = this.o.store.absolutePath(row.path);
    // Probe trains ride on single-request uploads only.
    const trainBytes = this.inParts(row) ? 0 : (this.o.link?.claimProbe(row.bytes) ?? 0);
    this.inFlight++;
    let outcome: 'stored' | 'already-present';
    let timing: UploadTiming | null = null;
    try {
      // The row may come from an ingest whose WAL sync is still running: were it sent now and lost to a power
      // cut, its bytes would be in S3 under a key no row names, and the device's resend would add a second.
      await this.o.durable?.();
      const verified = await verifySpooledFile(path, row.bytes, row.sha256, (p) => this.o.store.digest(p, { md5: !this.inParts(row) }));
      const result = await this.send(row, path, trainBytes, verified.md5);
      outcome = result.outcome;
      timing = result.timing;
      this.observe(row, result.timing, trainBytes);
    } catch (err) {
      if (trainBytes > 0) this.o.link?.abandonProbe();
      await this.handleFailure(row, err);
      return;
    } finally {
      this.inFlight--;
    }
    const fields = {
      id: row.id, key: row.s3_key, bytes: row.bytes, attempt: row.attempts, ms: Date.now() - started, outcome,
      // The answer's wait after the last byte: RTT + server time + queue; what RTT-aware tuning sees.
      response_wait_ms: timing ? Math.round(timing.tailWaitMs) : null,
    };
    await this.outcomes.record(row, 'uploaded', () => this.o.ledger.markUploaded(row.id, new Date()), async (late) => {
      this.o.log.info(late ? { id: row.id, key: row.s3_key } : fields, late ? 'upload ok (recorded in the ledger after a retry)' : 'upload ok');
      await this.afterRecorded(row);
    });
  }

  /** Above the part size an image goes in parts, each hashed as it is sent; below it, in one PUT with the file's MD5. */
  private inParts(row: ImageRow): boolean {
    return row.bytes > this.o.partSize;
  }

  /** `md5`: the base64 MD5 the check before sending read, for a single-request upload (multipart hashes each part). */
  private send(row: ImageRow, path: string, trainBytes: number, md5: string | undefined): Promise<PutImageResult> {
    const input: PutImageInput = {
      bucket: this.o.bucket,
      key: row.s3_key,
      path,
      bytes: row.bytes,
      sha256Hex: row.sha256,
      contentType: row.content_type,
      metadata: { 'image-id': row.id, 'device-id': row.device_id },
      // S3 refused this image before (a key conflict among others): whatever is at the key is found with a HEAD.
      checkFirst: row.permanent_failures > 0,
    };
    const deps = { client: this.o.client, throttle: this.o.throttle, stallTimeoutMs: this.o.stallTimeoutMs, signal: this.stopController.signal };
    if (this.inParts(row)) {
      const onResume = (resumed: MultipartResume): void => this.logResume(row, resumed);
      return putMultipart(input, { ...deps, partSize: this.o.partSize, multipart: this.o.multipart, imageId: row.id, onResume });
    }
    // Every FileHasher honours DigestOptions.md5; a missing one is a bug, not a reason to read the file again.
    if (md5 === undefined) throw new Error(`no MD5 from the check of ${path} before a single-request upload`);
    return putImage({ ...input, contentMd5: md5 }, { ...deps, trainBytes });
  }

  /** What a restart (or a failed attempt) cost a multipart upload: the operator's view of "nothing sent twice". */
  private logResume(row: ImageRow, resumed: MultipartResume): void {
    const toSend = resumed.parts - resumed.reused;
    this.o.log.info({
      id: row.id, key: row.s3_key, upload_id: resumed.uploadId, attempt: row.attempts,
      parts: resumed.parts, parts_reused: resumed.reused, parts_to_send: toSend, parts_listed: resumed.listed,
    }, `multipart upload resumed: ${resumed.reused} of ${resumed.parts} parts reused from S3, ${toSend} to send`);
  }

  private async afterRecorded(row: ImageRow): Promise<void> {
    this.emit('image:uploaded', row);
    // Deleting the local copy is housekeeping: if it fails, recovery removes it at the next start.
    if (!this.o.keepUploadedFiles) {
      await this.o.store.discard(this.o.store.absolutePath(row.path)).catch((err: unknown) => this.o.log.warn({ id: row.id, err: describeFailure(err) }, 'could not delete uploaded file'));
    }
  }

  private observe(row: ImageRow, timing: UploadTiming | null, trainBytes: number): void {
    if (timing === null) {
      if (trainBytes > 0) this.o.link?.abandonProbe();
      return;
    }
    const before = this.o.concurrency.target(this.o.throttle.rate);
    this.o.concurrency.observe(row.bytes, timing);
    // More uploads wanted: wake the parked workers now rather than at their next poll.
    if (this.o.concurrency.target(this.o.throttle.rate) > before) this.notify();
    this.o.link?.observe(timing);
    if (timing.train) this.o.log.debug({ id: row.id, train_bytes: timing.tailBytes, response_wait_ms: Math.round(timing.tailWaitMs) }, 'uplink probe');
  }

  private pause(reason: string): void {
    if (this.pauseState !== null) return;
    this.pauseState = { reason, since: new Date().toISOString(), probes: 0 };
    this.o.log.error({ reason }, 'uploads paused: S3 is unusable for every image; probing until it recovers');
    this.emit('paused', this.pauseState);
    void this.probeUntilUsable();
  }

  private async probeUntilUsable(): Promise<void> {
    let delay = this.o.probeBaseMs ?? 2000;
    while (this.pauseState !== null && !this.stopping) {
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      if (this.stopping) return;
      try {
        await this.o.probe();
      } catch (err) {
        this.pauseState.probes++;
        this.pauseState.reason = describeFailure(err);
        delay = Math.min(60_000, delay * 2);
        continue;
      }
      this.o.log.info({ paused_since: this.pauseState.since, probes: this.pauseState.probes + 1 }, 'uploads resumed: S3 answered the probe');
      this.pauseState = null;
      this.emit('resumed');
      this.notify();
    }
  }

  /** Records the failed attempt's outcome (a write the ledger refuses is kept and retried: OwedOutcomes). */
  private async handleFailure(row: ImageRow, err: unknown): Promise<void> {
    if (err instanceof ShutdownAbort) {
      await this.outcomes.record(row, 'released', () => this.o.ledger.release(row.id, new Date()), () => {
        this.o.log.info({ id: row.id }, 'upload interrupted by shutdown; image stays queued');
        this.emit('image:released', row, 'shutdown');
      });
      return;
    }
    if (isLedgerBusy(err)) {
      // A ledger write during the upload (multipart progress) met another process's lock: neither the image's
      // fault nor S3's. Give the claim back without spending an attempt; it is claimed again once the lock ends.
      await this.outcomes.record(row, 'released', () => this.o.ledger.release(row.id, new Date()), () => {
        this.o.log.warn({ id: row.id, attempt: row.attempts, err: describeFailure(err) }, 'upload interrupted: the ledger is locked by another process; image stays queued, attempt not counted');
        this.emit('image:released', row, 'ledger_busy');
      });
      return;
    }
    const kind = classifyFailure(err);
    const error = describeFailure(err);
    if (kind === 'systemic') {
      // Not this image's fault: give the claim back without spending an attempt, and stop everyone.
      // The pause itself is logged once, by the first to see it.
      await this.outcomes.record(row, 'released', () => this.o.ledger.release(row.id, new Date()), () => {
        // Every attempt's outcome gets its line.
        this.o.log.warn({ id: row.id, attempt: row.attempts, kind, err: error }, 'upload failed on a systemic error; image stays queued, attempt not counted');
        this.pause(error);
        this.emit('image:released', row, 'systemic');
      });
      this.pause(error); // also while the release waits to be recorded
      return;
    }
    // MAX_ATTEMPTS counts refusals of this image only; network errors, 5xx and throttling retry forever.
    if (kind === 'fatal' || (kind === 'permanent' && row.permanent_failures + 1 >= this.o.maxAttempts)) {
      await this.outcomes.record(row, 'dead', () => this.o.ledger.markDead(row.id, 'uploading', error), () => {
        // Parts of an upload that will never complete cost storage in the bucket: abort it.
        void abortMultipart({ bucket: this.o.bucket, key: row.s3_key }, { client: this.o.client, multipart: this.o.multipart, imageId: row.id });
        this.o.log.error({ id: row.id, attempt: row.attempts, kind, err: error }, 'upload failed permanently; image is dead');
        this.emit('image:dead', row, error);
      });
      return;
    }
    const delay = backoffDelayMs(row.attempts, this.o.retryBaseMs, this.o.retryMaxMs);
    await this.outcomes.record(row, 'retry', () => this.o.ledger.scheduleRetry(row.id, new Date(Date.now() + delay), error, kind === 'permanent'), () => {
      this.o.log.warn({ id: row.id, attempt: row.attempts, kind, retry_in_ms: delay, err: error }, 'upload failed; will retry');
      this.emit('image:retry', row, error);
    });
  }
}
