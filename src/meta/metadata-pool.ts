import { createRequire } from 'node:module';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { Logger } from '../log.js';
import { EXIF_OPTIONS, HEAD_BYTES, type ImageMetadata } from './extract.js';
import type { ImageFormat } from './sniff.js';
import { metadataThreadSource } from './thread-source.js';

/** Why an image's metadata could not be extracted; each is the image's own doing, so it is not tried again. */
export type MetadataFailure = 'timeout' | 'memory' | 'crashed' | 'error';

export type Extraction =
  | { outcome: 'done'; metadata: ImageMetadata }
  /** The file could not be read (uploaded and deleted first): nothing to parse. */
  | { outcome: 'unreadable'; message: string }
  | { outcome: 'failed'; reason: MetadataFailure; message: string }
  /** close() stopped it after it had started. */
  | { outcome: 'interrupted' }
  /** Never reached a thread: `onStart` threw (cause 'start'), or the pool is closed or cannot start threads. */
  | { outcome: 'not_started'; cause: 'start' | 'pool'; message: string };

export interface MetadataPoolOptions {
  log: Logger;
  /** Threads, each parsing one image at a time (1-16). @default 1 */
  threads?: number;
  /** An image still being parsed after this long fails as 'timeout'; its thread is terminated and replaced. @default 2000 */
  timeoutMs?: number;
  /** Tests: other exifr options (without the tag filter, to reach the memory limit). @default EXIF_OPTIONS */
  exifOptions?: object;
  /** Tests: other thread code. @default metadataThreadSource() */
  source?: string;
}

/**
 * Per thread. A metadata thread holds exifr's code, one 128 KiB buffer and one image's tags: a few MB.
 * Beyond 32 MB something decodes far more than the catalogue reads (a tag bomb through a parser without the
 * tag filter reached 2 GB), and V8 ends the thread (ERR_WORKER_OUT_OF_MEMORY) instead of the service.
 */
export const THREAD_LIMITS: ResourceLimits = Object.freeze({ maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 4 });

/** Threads that die before they are ready this many times in a row: the pool stops trying (a broken install). */
const MAX_BOOT_FAILURES = 3;

/** The image: its path, and a descriptor of it already open (read instead of the path), or null. */
export interface ImageFile {
  path: string;
  fd: number | null;
}

interface Job {
  file: ImageFile;
  format: ImageFormat['name'];
  onStart: () => void;
  resolve: (result: Extraction) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: (Job & { id: number; timer: NodeJS.Timeout }) | null;
  /** The error the thread reported before it exited (out of memory, an uncaught exception). */
  fault: (Error & { code?: string }) | null;
}

type Reply = { ready: true } | { id: number; metadata: ImageMetadata } | { id: number; unreadable: string } | { id: number; error: string };

/**
 * Extracts metadata on worker threads, never on the event loop: exifr parses on the calling thread, and a
 * 96-byte HEIC with a zero-length box made it loop forever (issue 18). Each image gets `timeoutMs` and
 * THREAD_LIMITS; a thread that exceeds either is terminated and replaced, and the image fails.
 */
export class MetadataPool {
  readonly threads: number;
  private readonly timeoutMs: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly workerData: Record<string, unknown>;
  private readonly source: string;
  private nextId = 0;
  private bootFailures = 0;
  private started = false;
  private broken = false;
  private closed = false;

  constructor(private readonly o: MetadataPoolOptions) {
    this.threads = o.threads ?? 1;
    this.timeoutMs = o.timeoutMs ?? 2000;
    if (!Number.isInteger(this.threads) || this.threads < 1 || this.threads > 16) throw new RangeError(`expected threads to be an integer 1-16, got ${this.threads}`);
    if (!(this.timeoutMs > 0)) throw new RangeError(`expected timeoutMs to be > 0, got ${this.timeoutMs}`);
    this.source = o.source ?? metadataThreadSource();
    this.workerData = { exifr: createRequire(import.meta.url).resolve('exifr'), options: o.exifOptions ?? EXIF_OPTIONS, headBytes: HEAD_BYTES };
  }

  /**
   * Starts the threads, so that the first image does not wait for one (~30-100 ms, in which a fast upload
   * can finish and delete the file). A thread that ends is replaced at once.
   */
  start(): void {
    this.started = true;
    this.fill();
  }

  /**
   * Parses one image. `onStart` runs right before its bytes go to a thread (the caller records the attempt
   * there); if it throws, the image is not parsed. Never rejects.
   */
  extract(file: ImageFile, format: ImageFormat['name'], onStart: () => void): Promise<Extraction> {
    if (this.closed || this.broken) return Promise.resolve({ outcome: 'not_started', cause: 'pool', message: this.closed ? 'metadata pool closed' : 'metadata threads cannot start' });
    return new Promise<Extraction>((resolve) => {
      this.queue.push({ file, format, onStart, resolve });
      if (!this.started) this.start();
      this.dispatch();
    });
  }

  /** Terminates the threads: images being parsed resolve 'interrupted', queued ones 'not_started'. */
  async close(): Promise<void> {
    this.closed = true;
    this.abandonQueue('metadata pool closed');
    const slots = this.slots.splice(0);
    for (const slot of slots) this.settle(slot, { outcome: 'interrupted' });
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private fill(): void {
    while (this.started && !this.closed && !this.broken && this.slots.length < this.threads) this.spawn();
  }

  private spawn(): void {
    let worker: Worker;
    try {
      worker = new Worker(this.source, { eval: true, workerData: this.workerData, resourceLimits: THREAD_LIMITS });
    } catch (err) {
      this.bootFailed((err as Error).message);
      return;
    }
    const slot: Slot = { worker, ready: false, job: null, fault: null };
    worker.on('message', (reply: Reply) => this.onReply(slot, reply));
    worker.on('error', (err) => { slot.fault = err; });
    worker.once('exit', (code) => this.onExit(slot, code));
    worker.unref(); // an idle thread must not keep the process alive
    this.slots.push(slot);
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      while (slot.ready && slot.job === null && this.queue.length > 0) {
        const job = this.queue.shift() as Job;
        try {
          job.onStart();
        } catch (err) {
          job.resolve({ outcome: 'not_started', cause: 'start', message: (err as Error).message });
          continue;
        }
        const id = this.nextId++;
        slot.job = { ...job, id, timer: setTimeout(() => this.timedOut(slot), this.timeoutMs) };
        slot.worker.postMessage({ id, path: job.file.path, fd: job.file.fd, format: job.format });
      }
    }
  }

  private onReply(slot: Slot, reply: Reply): void {
    if ('ready' in reply) {
      slot.ready = true;
      this.bootFailures = 0;
    } else if (slot.job?.id === reply.id) {
      if ('metadata' in reply) this.settle(slot, { outcome: 'done', metadata: reply.metadata });
      else if ('unreadable' in reply) this.settle(slot, { outcome: 'unreadable', message: reply.unreadable });
      else this.settle(slot, { outcome: 'failed', reason: 'error', message: reply.error });
    }
    this.dispatch();
  }

  /** The image's time is up: its thread may be in an endless loop, so it goes, and a fresh one takes its place. */
  private timedOut(slot: Slot): void {
    this.settle(slot, { outcome: 'failed', reason: 'timeout', message: `still parsing after ${this.timeoutMs} ms` });
    this.retire(slot);
    void slot.worker.terminate();
    this.fill();
  }

  private onExit(slot: Slot, code: number): void {
    if (!this.retire(slot)) return; // terminated on purpose (timeout, close)
    const oom = slot.fault?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const why = slot.fault ? slot.fault.message : `exit code ${code}`;
    this.settle(slot, { outcome: 'failed', reason: oom ? 'memory' : 'crashed', message: oom ? `over the thread's ${THREAD_LIMITS.maxOldGenerationSizeMb} MB heap limit` : `thread ended: ${why}` });
    if (!slot.ready) this.bootFailed(why);
    this.fill();
    this.dispatch();
  }

  private bootFailed(why: string): void {
    if (++this.bootFailures < MAX_BOOT_FAILURES) return;
    this.broken = true;
    this.o.log.error({ err: why, attempts: this.bootFailures }, 'metadata threads cannot start; images keep their place in the queue for extraction at the next start');
    this.abandonQueue('metadata threads cannot start');
  }

  private abandonQueue(message: string): void {
    for (const job of this.queue.splice(0)) job.resolve({ outcome: 'not_started', cause: 'pool', message });
  }

  /** Removes the slot; false if it was gone already. */
  private retire(slot: Slot): boolean {
    const at = this.slots.indexOf(slot);
    if (at === -1) return false;
    this.slots.splice(at, 1);
    return true;
  }

  private settle(slot: Slot, result: Extraction): void {
    const job = slot.job;
    if (!job) return;
    slot.job = null;
    clearTimeout(job.timer);
    job.resolve(result);
  }
}
