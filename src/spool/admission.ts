import { statfs } from 'node:fs/promises';
import type { SpoolFullPolicy } from '../config.js';
import { SpoolError } from '../errors.js';
import type { Logger } from '../log.js';

/** What admission needs from the ledger and the spool; injected so the policy is testable without a disk. */
export interface AdmissionDeps {
  maxBytes: number;
  minFreeBytes: number;
  policy: SpoolFullPolicy;
  maxConcurrent: number;
  /** Image bytes the spool holds now, plus reservations of ingests in progress. */
  usage: SpoolUsage;
  /** Free bytes on the spool's filesystem (statfs). */
  freeBytes: () => Promise<number>;
  /** Evicts the oldest queued images (not uploading) to free at least `bytes`; returns the bytes freed. */
  evictOldest: (bytes: number) => Promise<number>;
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

  constructor(private readonly stored: () => number) {}

  get total(): number {
    return this.stored() + this.reserved;
  }

  get storedBytes(): number {
    return this.stored();
  }

  reserve(bytes: number): void {
    this.reserved += bytes;
  }

  unreserve(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

}

export interface Ticket {
  /** Call once the request is done (acknowledged or not): its reservation and slot are returned. */
  release(): void;
}

/** statfs of the spool, cached briefly: an ingest must not wait on a syscall per request under load. */
export function cachedFreeBytes(dir: string, ttlMs = 500): () => Promise<number> {
  let cached: { at: number; free: number } | null = null;
  return async () => {
    const now = Date.now();
    if (cached && now - cached.at < ttlMs) return cached.free;
    const s = await statfs(dir);
    cached = { at: now, free: s.bavail * s.bsize };
    return cached.free;
  };
}

/**
 * Decides, before a byte of the body is read, whether an ingest may start: a bounded number at once, and
 * only while the spool stays under SPOOL_MAX_BYTES and the disk keeps SPOOL_MIN_FREE_BYTES free after it.
 * A full spool answers 507 with Retry-After (seconds until the uploads have drained the overshoot), or,
 * with SPOOL_FULL_POLICY=evict-oldest, makes room by evicting the oldest queued images.
 */
export class Admission {
  private inFlight = 0;

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
    this.d.usage.reserve(expectedBytes);
    let released = false;
    const ticket: Ticket = {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.d.usage.unreserve(expectedBytes);
      },
    };
    try {
      await this.makeRoom();
    } catch (err) {
      ticket.release();
      throw err;
    }
    return ticket;
  }

  /** Bytes over the limits with this request's reservation counted (0 = fits). */
  async overshoot(): Promise<number> {
    const overMax = this.d.usage.total - this.d.maxBytes;
    // Reserved bytes are not on disk yet: statfs does not see them, so take them off what it reports.
    const overFree = this.d.minFreeBytes - ((await this.d.freeBytes()) - this.reservedNotWritten());
    return Math.max(0, overMax, overFree);
  }

  private reservedNotWritten(): number {
    return this.d.usage.total - this.d.usage.storedBytes;
  }

  private async makeRoom(): Promise<void> {
    let over = await this.overshoot();
    if (over === 0) return;
    if (this.d.policy === 'evict-oldest') {
      const freed = await this.d.evictOldest(over);
      over = await this.overshoot();
      if (over === 0) return;
      this.d.log.warn({ freed, still_over: over }, 'spool full: evicting queued images did not free enough');
    }
    throw this.full(over);
  }

  private full(over: number): SpoolError {
    const rate = this.d.drainRate();
    const seconds = Number.isFinite(rate) && rate > 0 ? Math.ceil(over / rate) : 5;
    const retryAfter = Math.min(3600, Math.max(1, seconds));
    return new SpoolError('disk_full',
      `the spool is full (${Math.ceil(over / 1e6)} MB over SPOOL_MAX_BYTES or SPOOL_MIN_FREE_BYTES); uploads free it at the current rate in ~${retryAfter} s`,
      { headers: { 'Retry-After': String(retryAfter) } });
  }
}
