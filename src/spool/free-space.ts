import { statfs } from 'node:fs/promises';

interface Reading {
  at: number;
  free: number;
  /** The spool's stored bytes (ledger) when statfs answered. */
  stored: number;
}

/**
 * Free space on the spool's filesystem, for admission. statfs is read at most every `ttlMs` (an ingest must not
 * wait on a syscall per request under load), and between two readings the estimate follows the ledger: bytes
 * the spool stored since the reading are taken off it, bytes it freed (uploaded, evicted) are added back. A
 * reading cached as is would not see the images committed meanwhile: hundreds of MB within 500 ms at full
 * ingest, enough to run a small disk below SPOOL_MIN_FREE_BYTES.
 */
export class FreeSpace {
  private reading: Reading | null = null;
  private pending: Promise<Reading> | null = null;

  constructor(
    private readonly dir: string,
    /** Bytes of the image files the ledger says the spool holds. */
    private readonly stored: () => number,
    private readonly ttlMs = 500,
    private readonly read: (dir: string) => Promise<number> = statfsFree,
  ) {}

  /** Free bytes now: the last statfs reading, corrected by what the spool stored or freed since. */
  async bytes(): Promise<number> {
    const r = await this.current();
    return r.free - (this.stored() - r.stored);
  }

  /** What statfs last said (for the free-space metric), at most `ttlMs` old. */
  async measured(): Promise<number> {
    return (await this.current()).free;
  }

  private current(): Promise<Reading> {
    if (this.reading && Date.now() - this.reading.at < this.ttlMs) return Promise.resolve(this.reading);
    this.pending ??= this.read(this.dir).then((free) => {
      this.reading = { at: Date.now(), free, stored: this.stored() };
      return this.reading;
    }).finally(() => { this.pending = null; });
    return this.pending;
  }
}

async function statfsFree(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
