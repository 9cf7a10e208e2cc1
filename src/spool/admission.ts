import type { SpoolFullPolicy } from '../config.js';
import { SpoolError } from '../errors.js';
import type { Logger } from '../log.js';

/** Closer than this to SPOOL_MIN_FREE_BYTES, every admission reads statfs afresh instead of a cached reading. */
const FRESH_STATFS_WITHIN = 64 * 1024 * 1024;

/** Bytes of image files the ledger holds, by what eviction can do with them. */
export interface SpoolContents {
  /** Queued: what SPOOL_FULL_POLICY=evict-oldest may evict. */
  queued: number;
  /** Being uploaded, never evicted. */
  uploading: number;
  /** Dead (S3 refused them): kept for the operator. */
  dead: number;
  /** Uploaded copies kept (KEEP_UPLOADED_FILES=true), else 0. */
  uploaded: number;
}

/** What admission needs from the ledger and the spool; injected so the policy is testable without a disk. */
export interface AdmissionDeps {
  maxBytes: number;
  minFreeBytes: number;
  policy: SpoolFullPolicy;
  maxConcurrent: number;
  /** Image bytes the spool holds now, plus reservations of ingests in progress. */
  usage: SpoolUsage;
  /**
   * Free bytes on the spool's filesystem now, as if no ingest in progress had written anything yet (FreeSpace:
   * statfs, kept current by the ledger): their reservations count for all they will write. `fresh`: from a
   * statfs reading taken now.
   */
  freeBytes: (fresh: boolean) => Promise<number>;
  /** Evicts the oldest queued images (not uploading) to free at least `bytes`; returns the bytes freed. */
  evictOldest: (bytes: number) => Promise<number>;
  /** What the stored bytes are: how much eviction could free, and what holds the rest. */
  contents: () => SpoolContents;
  /** The current upload rate, for Retry-After: how long until the backlog has drained `bytes`. */
  drainRate: () => number;
  log: Logger;
}

/**
 * Image bytes in the spool: those the ledger holds files for (read from its counters, so every path that
 * adds, uploads, evicts or kills an image is counted without hooks of its own) plus those being received.
 */
export class SpoolUsage {
  private reserved = 0;
  private written = 0;

  constructor(private readonly stored: () => number) {}

  get total(): number {
    return this.stored() + this.reserved;
  }

  get storedBytes(): number {
    return this.stored();
  }

  /** Bytes reserved by ingests in progress: not in the ledger yet, and (conservatively) not on disk yet. */
  get reservedBytes(): number {
    return this.reserved;
  }

  /**
   * Bytes of ingests in progress whose files are complete on disk (fsynced under their temporary names) and not
   * yet in the ledger: a statfs reading counts them as used, while their reservations still stand.
   */
  get unrecordedBytes(): number {
    return this.written;
  }

  reserve(bytes: number): void {
    this.reserved += bytes;
  }

  unreserve(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

  wrote(bytes: number): void {
    this.written += bytes;
  }

  recorded(bytes: number): void {
    this.written = Math.max(0, this.written - bytes);
  }
}

export interface Ticket {
  /**
   * Reserves `bytes` more for this request (an upload link's images, as they arrive): the same check as
   * admit(), so it may evict or throw 507. On a refusal nothing more stays reserved.
   */
  grow(bytes: number): Promise<void>;
  /** The image this request stores: when its row commits (Admission.landed), the reservation ends. */
  forImage(id: string): void;
  /** A file of this request is complete on disk (fsynced under its temporary name): `bytes` long. */
  wrote(bytes: number): void;
  /**
   * The request's rows have committed: its bytes are the ledger's now (or were not needed), so its reservation
   * ends. Called in the same turn of the event loop as the commit: counted as both, the bytes would make the
   * spool look fuller than it is (refusals, and evictions nobody needed).
   */
  landed(): void;
  /** Call once the request is done (acknowledged or not): its reservation and slot are returned. */
  release(): void;
}

/**
 * Decides, before a byte of the body is read, whether an ingest may start: a bounded number at once, and
 * only while the spool stays under SPOOL_MAX_BYTES and the disk keeps SPOOL_MIN_FREE_BYTES free after it.
 * A full spool answers 507 with Retry-After (seconds until the uploads have drained the overshoot), or,
 * with SPOOL_FULL_POLICY=evict-oldest, makes room by evicting the oldest queued images, and refuses only when
 * evicting every queued image could not make room.
 *
 * Reservations are taken and checked one request at a time: checked concurrently, each request would see the
 * others' reservations before they had made room for them, and evict for them too, or give up (8 of 289
 * devices refused at 5x demand with queued images left to evict, issue 18).
 */
export class Admission {
  private inFlight = 0;
  private turn: Promise<unknown> = Promise.resolve();
  /** Tickets by the image they store, for landed(). */
  private readonly byImage = new Map<string, Ticket>();

  constructor(private readonly d: AdmissionDeps) {}

  get active(): number {
    return this.inFlight;
  }

  async admit(expectedBytes: number): Promise<Ticket> {
    if (this.inFlight >= this.d.maxConcurrent) {
      throw new SpoolError('too_busy', `${this.inFlight} uploads in progress (MAX_CONCURRENT_UPLOADS=${this.d.maxConcurrent}); retry shortly`,
        { headers: { 'Retry-After': '1' } });
    }
    this.inFlight++;
    let reserved = 0;
    let written = 0;
    let released = false;
    const images: string[] = [];
    const ticket: Ticket = {
      grow: async (bytes) => {
        if (released) throw new SpoolError('internal', 'a released admission ticket cannot grow');
        await this.reserveRoom(bytes);
        reserved += bytes;
      },
      forImage: (id) => {
        images.push(id);
        this.byImage.set(id, ticket);
      },
      wrote: (bytes) => {
        this.d.usage.wrote(bytes);
        written += bytes;
      },
      landed: () => {
        this.d.usage.unreserve(reserved);
        this.d.usage.recorded(written);
        reserved = 0;
        written = 0;
      },
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        ticket.landed();
        for (const id of images) this.byImage.delete(id);
      },
    };
    try {
      await ticket.grow(expectedBytes);
    } catch (err) {
      ticket.release();
      throw err;
    }
    return ticket;
  }

  /** Rows committed by the group committer: the reservations of the requests that store them end now. */
  landed(imageIds: readonly string[]): void {
    for (const id of imageIds) this.byImage.get(id)?.landed();
  }

  /** Bytes over the limits with every reservation counted (0 = fits). */
  async overshoot(): Promise<number> {
    const overMax = this.d.usage.total - this.d.maxBytes;
    // Reserved bytes are not in the ledger and (as far as we know) not on disk yet: take them off the free space.
    const overFree = async (fresh: boolean): Promise<number> => this.d.minFreeBytes - ((await this.d.freeBytes(fresh)) - this.d.usage.reservedBytes);
    let free = await overFree(false);
    // Near the floor, what the ledger does not track (its own WAL, filesystem blocks) matters: read statfs now.
    if (free > -FRESH_STATFS_WITHIN) free = await overFree(true);
    return Math.max(0, overMax, free);
  }

  /** Reserves `bytes` and makes room for them, or reserves nothing and throws; one call at a time. */
  private reserveRoom(bytes: number): Promise<void> {
    const run = this.turn.then(async () => {
      this.d.usage.reserve(bytes);
      try {
        await this.makeRoom();
      } catch (err) {
        this.d.usage.unreserve(bytes);
        throw err;
      }
    });
    this.turn = run.catch(() => undefined);
    return run;
  }

  private async makeRoom(): Promise<void> {
    let over = await this.overshoot();
    if (over === 0) return;
    if (this.d.policy !== 'evict-oldest') throw this.full(over);
    // Evicting is worth it only if it can make room: otherwise it would lose images and refuse anyway. A fresh
    // statfs reading may show less room than the ledger did (it sees bodies being written, which are counted
    // as reserved too), so evict again until it fits.
    while (over <= this.d.contents().queued) {
      if ((await this.d.evictOldest(over)) === 0) break;
      over = await this.overshoot();
      if (over === 0) return;
    }
    throw this.nothingToEvict(over);
  }

  /** evict-oldest found too few queued images: say what holds the space instead. */
  private nothingToEvict(over: number): SpoolError {
    const c = this.d.contents();
    const why = `${mb(c.queued)} MB queued (evictable), ${mb(c.uploading)} MB being uploaded, ${mb(c.dead)} MB dead, ` +
      `${c.uploaded > 0 ? `${mb(c.uploaded)} MB uploaded and kept, ` : ''}${mb(this.d.usage.reservedBytes)} MB being received by ${this.inFlight} ingests`;
    this.d.log.warn({ over, queued_bytes: c.queued, uploading_bytes: c.uploading, dead_bytes: c.dead, kept_uploaded_bytes: c.uploaded,
      receiving_bytes: this.d.usage.reservedBytes, ingests: this.inFlight },
      `spool full and nothing left to evict (SPOOL_FULL_POLICY=evict-oldest): ${why}`);
    return this.full(over, `; nothing left to evict: ${why}`);
  }

  private full(over: number, detail = ''): SpoolError {
    const rate = this.d.drainRate();
    const seconds = Number.isFinite(rate) && rate > 0 ? Math.ceil(over / rate) : 5;
    const retryAfter = Math.min(3600, Math.max(1, seconds));
    return new SpoolError('disk_full',
      `the spool is full (${Math.ceil(over / 1e6)} MB over SPOOL_MAX_BYTES or SPOOL_MIN_FREE_BYTES${detail}); uploads free it at the current rate in ~${retryAfter} s`,
      { headers: { 'Retry-After': String(retryAfter) } });
  }
}

/**
 * For a body of unknown size (an upload link streamed without Content-Length): grows `ticket` ahead of the
 * bytes about to be written under it, `step` at a time, beyond the `reserved` it was admitted with.
 */
export function reserveAsWritten(ticket: Ticket, reserved: number, step = 1024 * 1024): (bytes: number) => Promise<void> {
  let written = 0;
  return async (bytes) => {
    written += bytes;
    if (written <= reserved) return;
    const more = Math.max(step, written - reserved);
    await ticket.grow(more);
    reserved += more;
  };
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
