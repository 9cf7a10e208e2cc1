import type { EventEmitter } from 'node:events';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { MetadataEvents } from '../meta/metadata-worker.js';
import type { UploaderEvents } from '../uploader/uploader.js';

/** Which endpoint brought the images: `POST /image` or `POST /u/{secret}` (an upload link). */
export type IngestRoute = 'image' | 'link';

export interface IngestObservation {
  route: IngestRoute;
  status: number;
  /** The answer's stable error code, or null for a success. */
  error: string | null;
  seconds: number;
}

/** Answers to ingest requests take from a few ms (a refusal) to minutes (50 MB from a slow camera). */
const INGEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** A group commit is one WAL fsync: sub-millisecond on NVMe, tens of ms on a busy spinning disk. */
const COMMIT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Counters and histograms of events, updated where each event happens through the plain callbacks below,
 * so the ingest path, the ledger and the uploader never import prom-client.
 */
export class EventMetrics {
  private readonly requests: Counter<'route' | 'code' | 'error'>;
  private readonly duration: Histogram<'route' | 'result'>;
  private readonly received: Counter;
  private readonly commits: Histogram;
  private readonly committedRows: Counter;
  private readonly attempts: Counter<'outcome'>;
  private readonly uploadedBytes: Counter;
  private readonly metadataFailed: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'image_spool_ingest_requests_total',
      help: 'Ingest requests answered (POST /image, POST /u/{secret}), by route, HTTP status and error code ("none" for a success).',
      labelNames: ['route', 'code', 'error'], registers,
    });
    this.duration = new Histogram({
      name: 'image_spool_ingest_duration_seconds',
      help: 'Time from an ingest request reaching the app to its answer (for a 2xx: body received, file and ledger row durable), by route and result (success or error).',
      labelNames: ['route', 'result'], buckets: INGEST_BUCKETS, registers,
    });
    this.received = new Counter({
      name: 'image_spool_ingest_received_bytes_total',
      help: 'Request body bytes read by the ingest endpoints, including bodies read and discarded after a refusal.',
      registers,
    });
    this.commits = new Histogram({
      name: 'image_spool_ledger_commit_duration_seconds',
      help: 'Duration of each group-commit transaction that records ingested images (includes the WAL fsync an ack waits for).',
      buckets: COMMIT_BUCKETS, registers,
    });
    this.committedRows = new Counter({
      name: 'image_spool_ledger_committed_rows_total',
      help: 'Image rows written by group commits; divided by the commit count it is the batching factor.',
      registers,
    });
    this.attempts = new Counter({
      name: 'image_spool_upload_attempts_total',
      help: 'Upload attempts by outcome: uploaded, retry (failed, will retry), dead (failed for good), systemic (S3 unusable: uploader paused, attempt not counted), shutdown (interrupted, image stays queued), ledger_busy (a ledger write met another process\'s lock; attempt not counted).',
      labelNames: ['outcome'], registers,
    });
    for (const outcome of ['uploaded', 'retry', 'dead', 'systemic', 'shutdown', 'ledger_busy']) this.attempts.inc({ outcome }, 0);
    this.uploadedBytes = new Counter({
      name: 'image_spool_uploaded_bytes_total',
      help: 'Bytes of images confirmed stored in S3 (image sizes; retries and request overhead are in image_spool_egress_bytes_total).',
      registers,
    });
    this.metadataFailed = new Counter({
      name: 'image_spool_metadata_failed_total',
      help: 'Images whose metadata extraction was given up (never tried again), by reason: timeout, memory (thread heap limit), crashed (thread died), error (parser threw), interrupted (found unfinished at start: the process died mid-extraction).',
      labelNames: ['reason'], registers,
    });
    for (const reason of ['timeout', 'memory', 'crashed', 'error', 'interrupted']) this.metadataFailed.inc({ reason }, 0);
  }

  readonly ingest = (o: IngestObservation): void => {
    this.requests.inc({ route: o.route, code: String(o.status), error: o.error ?? 'none' });
    this.duration.observe({ route: o.route, result: o.status < 400 ? 'success' : 'error' }, o.seconds);
  };

  readonly bodyBytes = (bytes: number): void => {
    this.received.inc(bytes);
  };

  readonly ledgerCommit = (seconds: number, rows: number): void => {
    this.commits.observe(seconds);
    this.committedRows.inc(rows);
  };

  /** Counts every claim's outcome from the uploader's typed events. */
  watchUploader(uploader: EventEmitter<UploaderEvents>): void {
    uploader.on('image:uploaded', (row) => {
      this.attempts.inc({ outcome: 'uploaded' });
      this.uploadedBytes.inc(row.bytes);
    });
    uploader.on('image:retry', () => this.attempts.inc({ outcome: 'retry' }));
    uploader.on('image:dead', () => this.attempts.inc({ outcome: 'dead' }));
    uploader.on('image:released', (_row, reason) => this.attempts.inc({ outcome: reason }));
  }

  watchMetadata(metadata: EventEmitter<MetadataEvents>): void {
    metadata.on('metadata:failed', (_id, reason) => this.metadataFailed.inc({ reason }));
  }
}
