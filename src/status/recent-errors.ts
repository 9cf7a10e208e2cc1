import type { Uploader } from '../uploader/uploader.js';
import { Ring } from './ring.js';

/** One upload problem as the status page lists it. */
export interface ErrorEvent {
  at: string;
  /** retry: will be tried again; dead: given up; paused/resumed: the whole uploader (S3 unusable, then usable). */
  kind: 'retry' | 'dead' | 'paused' | 'resumed';
  image_id: string | null;
  device_id: string | null;
  error: string | null;
}

/** Long S3 messages are cut: the page shows a line, the log and the ledger keep the whole text. */
const MAX_ERROR_CHARS = 300;

/**
 * The latest upload failures, from the uploader's events, in memory. Retries are events, not rows (a
 * retried row looks like any queued row), so they are collected as they happen; the `dead` rows, which
 * need an operator, are read from the ledger instead and survive restarts.
 */
export class RecentErrors {
  private readonly ring: Ring<ErrorEvent>;

  constructor(capacity = 50, private readonly now: () => Date = () => new Date()) {
    this.ring = new Ring(capacity);
  }

  /** Subscribes to the uploader; returns the unsubscribe. */
  attach(uploader: Uploader): () => void {
    const onRetry = (row: { id: string; device_id: string }, error: string): void => this.add('retry', row, error);
    const onDead = (row: { id: string; device_id: string }, error: string): void => this.add('dead', row, error);
    const onPaused = (state: { reason: string }): void => this.add('paused', null, state.reason);
    const onResumed = (): void => this.add('resumed', null, null);
    uploader.on('image:retry', onRetry).on('image:dead', onDead).on('paused', onPaused).on('resumed', onResumed);
    return () => {
      uploader.off('image:retry', onRetry).off('image:dead', onDead).off('paused', onPaused).off('resumed', onResumed);
    };
  }

  add(kind: ErrorEvent['kind'], row: { id: string; device_id: string } | null, error: string | null): void {
    this.ring.push({
      at: this.now().toISOString(),
      kind,
      image_id: row?.id ?? null,
      device_id: row?.device_id ?? null,
      error: error === null ? null : error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS - 1)}…` : error,
    });
  }

  /** Newest first. */
  list(): ErrorEvent[] {
    return this.ring.toArray().reverse();
  }
}
