import { retryWhileBusy } from '../ledger/busy.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Logger } from '../log.js';
import type { SpoolStore } from '../spool/store.js';
import { extractMetadata } from './extract.js';
import type { ImageFormat } from './sniff.js';

interface Job {
  id: string;
  path: string;
  format: ImageFormat['name'];
}

const FORMAT_BY_CONTENT_TYPE: Record<string, ImageFormat['name']> = {
  'image/jpeg': 'jpeg', 'image/png': 'png', 'image/webp': 'webp', 'image/gif': 'gif', 'image/tiff': 'tiff', 'image/heic': 'heic',
};

/**
 * Extracts metadata right after an image is acknowledged, off the request path (the ack never waits for
 * it), two at a time. Rows a crash left without metadata are picked up at start. An image whose file is
 * already gone (uploaded and deleted first) is marked done with nulls; nothing here can fail an ingest.
 */
export class MetadataWorker {
  private readonly queue: Job[] = [];
  private running = 0;
  private stopped = false;

  constructor(private readonly ledger: ImageLedger, private readonly store: SpoolStore, private readonly log: Logger, private readonly concurrency = 2) {}

  enqueue(id: string, relPath: string, format: ImageFormat['name']): void {
    if (this.stopped) return;
    this.queue.push({ id, path: this.store.absolutePath(relPath), format });
    this.pump();
  }

  /** Queues every row that has no metadata yet (after a crash). */
  resumePending(): number {
    const rows = this.ledger.metadataPending(100_000);
    for (const r of rows) this.enqueue(r.id, r.path, FORMAT_BY_CONTENT_TYPE[r.content_type] ?? 'jpeg');
    return rows.length;
  }

  get pending(): number {
    return this.queue.length + this.running;
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      this.running++;
      void this.run(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(job: Job): Promise<void> {
    try {
      const meta = await extractMetadata(job.path, job.format);
      // Another process's lock on the ledger: wait for it on timers rather than lose what was extracted.
      if (!this.stopped) await retryWhileBusy(() => this.ledger.setMetadata(job.id, meta, new Date()));
    } catch (err) {
      // The file went away (uploaded and deleted) or the ledger is busy: record the attempt, never retry-loop.
      try {
        if (!this.stopped) this.ledger.setMetadata(job.id, EMPTY, new Date());
      } catch {
        // a later start picks it up again
      }
      this.log.debug({ id: job.id, err: (err as Error).message }, 'metadata not extracted');
    }
  }
}

const EMPTY = {
  width: null, height: null, camera_make: null, camera_model: null, gps_lat: null, gps_lon: null,
  captured_at: null, captured_at_utc: null, orientation: null,
};
