import { EventEmitter } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import type { ImageLedger } from '../ledger/images.js';
import type { Logger } from '../log.js';
import type { SpoolStore } from '../spool/store.js';
import type { ImageMetadata } from './extract.js';
import type { Extraction, MetadataFailure, MetadataPool } from './metadata-pool.js';
import { formatByContentType, hasMetadataParser, type ImageFormat } from './sniff.js';

interface Job {
  id: string;
  path: string;
  format: ImageFormat['name'];
  /**
   * Opened when the image was queued (while the queue is short): the uploader may delete the file before a
   * thread gets to it (a small image to a fast S3 in ~50 ms, a thread replaced after a poison image starts
   * in ~50-300 ms), and an open file keeps its bytes readable. Null: opened by path when its turn comes.
   */
  file: Promise<FileHandle | null> | null;
}

/** 'interrupted': found mid-extraction at start (the process died while a thread parsed it). */
export type MetadataFailureReason = MetadataFailure | 'interrupted';

export interface MetadataEvents {
  'metadata:done': [id: string];
  'metadata:failed': [id: string, reason: MetadataFailureReason, message: string];
}

/** Images queued with their file already open: at most this many descriptors held. */
const OPEN_AHEAD = 64;

/** A ledger write that failed (the ledger busy) is tried again this often, this long apart. */
const WRITE_TRIES = 5;
const WRITE_RETRY_MS = 1000;

/**
 * Extracts metadata right after an image is acknowledged, off the request path (the ack never waits for
 * it), on the pool's threads. The attempt is in the ledger before a thread sees the bytes, so an image that
 * kills its thread or the process is marked failed once, never retried in a loop: at start, rows left
 * `extracting` are marked failed and the rows never tried are queued. An image whose file is already gone
 * (uploaded and deleted first) is marked done with nulls; nothing here can fail an ingest.
 */
export class MetadataWorker extends EventEmitter<MetadataEvents> {
  private readonly queue: Job[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** The ledger refused to record an attempt: no new attempt until a moment has passed. */
  private paused = false;

  constructor(private readonly ledger: ImageLedger, private readonly store: SpoolStore, private readonly log: Logger, private readonly pool: MetadataPool) {
    super();
  }

  enqueue(id: string, relPath: string, format: ImageFormat['name']): void {
    if (this.stopped) return;
    const path = this.store.absolutePath(relPath);
    const file = this.queue.length < OPEN_AHEAD ? open(path, 'r').catch(() => null) : null;
    this.queue.push({ id, path, format, file });
    this.pump();
  }

  /**
   * Starts the threads; fails the extractions the last run left unfinished (never parsed again), then queues
   * every row never tried.
   */
  start(now = new Date()): { interrupted: number; pending: number } {
    this.pool.start();
    const interrupted = this.ledger.failInterruptedMetadata(`interrupted: the service stopped while a thread parsed this image (at ${now.toISOString()} it was found unfinished, and is not tried again)`, now);
    for (const id of interrupted) {
      this.log.warn({ id, reason: 'interrupted' }, 'metadata extraction was cut short by a crash or kill; marked failed, not tried again');
      this.emit('metadata:failed', id, 'interrupted', 'interrupted');
    }
    const rows = this.ledger.metadataPending(100_000);
    for (const r of rows) {
      const format = formatByContentType(r.content_type);
      // Formats no parser reads (AVIF, JPEG XL, BMP, IMAGE_FORMATS=any) carry no metadata: recorded, never parsed.
      if (format !== null && hasMetadataParser(format.name)) this.enqueue(r.id, r.path, format.name);
      else this.ledger.setMetadata(r.id, EMPTY, now);
    }
    return { interrupted: interrupted.length, pending: rows.length };
  }

  get pending(): number {
    return this.queue.length + this.running.size;
  }

  /** Stops taking images; an image being parsed goes back to untried (its thread is stopped, not the image's fault). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.queue.splice(0)) void closeFile(job.file);
    for (const timer of this.timers) clearTimeout(timer);
    await this.pool.close();
    await Promise.allSettled([...this.running]);
  }

  private pump(): void {
    while (!this.paused && !this.stopped && this.running.size < this.pool.threads && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      const run = this.run(job).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async run(job: Job): Promise<void> {
    const handle = job.file ? await job.file : null;
    try {
      const result = await this.pool.extract({ path: job.path, fd: handle?.fd ?? null }, job.format, () => this.ledger.metadataStarted(job.id));
      this.record(job, result, WRITE_TRIES);
    } finally {
      await closeFile(job.file);
    }
  }

  private record(job: Job, result: Extraction, tries: number): void {
    try {
      this.write(job, result);
    } catch (err) {
      if (tries > 1 && !this.stopped) return this.later(() => this.record(job, result, tries - 1));
      // Left `extracting`: the next start marks it failed. Left untried: the next start extracts it.
      this.log.error({ id: job.id, outcome: result.outcome, err: (err as Error).message }, 'could not record the metadata extraction in the ledger');
    }
  }

  private write(job: Job, result: Extraction): void {
    const now = new Date();
    switch (result.outcome) {
      case 'done':
        this.ledger.setMetadata(job.id, result.metadata, now);
        this.emit('metadata:done', job.id);
        return;
      case 'unreadable':
        this.ledger.setMetadata(job.id, EMPTY, now);
        this.log.debug({ id: job.id, err: result.message }, 'metadata not extracted: file not readable');
        this.emit('metadata:done', job.id);
        return;
      case 'failed':
        this.ledger.metadataFailed(job.id, `${result.reason}: ${result.message}`, now);
        this.log.warn({ id: job.id, reason: result.reason, err: result.message }, 'metadata extraction failed; marked failed, not tried again');
        this.emit('metadata:failed', job.id, result.reason, result.message);
        return;
      case 'interrupted':
        this.ledger.metadataReleased(job.id);
        return;
      case 'not_started':
        // The attempt could not be recorded (ledger busy): this image first, after a pause, one attempt at a
        // time (not one retry per queued image). The pool is closed or cannot start threads: the rows stay
        // untried, for the next start.
        if (this.stopped) return;
        if (result.cause === 'start') {
          this.log.warn({ id: job.id, err: result.message }, 'metadata extraction not started; trying again shortly');
          this.pause(job);
        } else {
          this.log.error({ err: result.message, images: this.queue.length + 1 }, 'metadata extraction stopped; the images not extracted are extracted at the next start');
          this.stopped = true;
          for (const queued of this.queue.splice(0)) void closeFile(queued.file);
        }
        return;
    }
  }

  private pause(job: Job): void {
    this.queue.unshift({ ...job, file: null }); // its descriptor is closed: by path next time
    if (this.paused) return;
    this.paused = true;
    this.later(() => {
      this.paused = false;
      this.pump();
    });
  }

  private later(fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, WRITE_RETRY_MS);
    timer.unref();
    this.timers.add(timer);
  }
}

async function closeFile(file: Promise<FileHandle | null> | null): Promise<void> {
  const handle = file ? await file : null;
  await handle?.close().catch(() => undefined);
}

const EMPTY: ImageMetadata = {
  width: null, height: null, camera_make: null, camera_model: null, gps_lat: null, gps_lon: null,
  captured_at: null, captured_at_utc: null, orientation: null,
};
