import { statfs } from 'node:fs/promises';

interface Reading {
  at: number;
  free: number;
  /** The spool's stored bytes (ledger) when statfs answered. */
  stored: number;
  /** Files of ingests in progress, complete but not in the ledger yet, when statfs answered. */
  unrecorded: number;
}

export interface SpoolBytes {
  /** Bytes of the image files the ledger says the spool holds. */
  stored(): number;
  /** Bytes of files ingests in progress have written whole and not yet recorded (SpoolUsage.unrecordedBytes). */
  unrecorded(): number;
}

/**
 * Free space on the spool's filesystem, for admission. statfs is read at most every `ttlMs` (an ingest must not
 * wait on a syscall per request under load), and between two readings the estimate follows the ledger: bytes
 * the spool stored since the reading are taken off it, bytes it freed (uploaded, evicted) are added back. A
 * reading cached as is would not see the images committed meanwhile: hundreds of MB within 500 ms at full
 * ingest, enough to run a small disk below SPOOL_MIN_FREE_BYTES.
 *
 * The estimate leaves out the files of ingests in progress (written whole, not yet recorded when statfs was
 * read): admission counts those by their reservations, and counted twice they would refuse images that fit.
 */
export class FreeSpace {
  private reading: Reading | null = null;
  private pending: Promise<Reading> | null = null;

  constructor(
    private readonly dir: string,
    private readonly spool: SpoolBytes,
    private readonly ttlMs = 500,
    private readonly read: (dir: string) => Promise<number> = statfsFree,
  ) {}

  /**
   * Free bytes now, ingests in progress aside: the last reading, corrected by what the spool stored or freed
   * since; `fresh`: a new reading (what the ledger does not track, its own growth, is seen only by statfs).
   */
  async bytes(fresh = false): Promise<number> {
    const r = await this.current(fresh);
    return r.free + r.unrecorded - (this.spool.stored() - r.stored);
  }

  /** What statfs last said (for the free-space metric), at most `ttlMs` old. */
  async measured(): Promise<number> {
    return (await this.current()).free;
  }

  private current(fresh = false): Promise<Reading> {
    if (!fresh && this.reading && Date.now() - this.reading.at < this.ttlMs) return Promise.resolve(this.reading);
    this.pending ??= this.read(this.dir).then((free) => {
      this.reading = { at: Date.now(), free, stored: this.spool.stored(), unrecorded: this.spool.unrecorded() };
      return this.reading;
    }).finally(() => { this.pending = null; });
    return this.pending;
  }
}

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
