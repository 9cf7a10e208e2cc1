import { SpoolError } from '../errors.js';

/**
 * Decides when an upload is stuck. A fixed request timeout cannot work under a byte budget: a 50 MB
 * image at 1 Mbit/s takes minutes and that is not a failure. Instead the clock only runs while the
 * upload is *not* waiting for tokens: if the socket takes no byte and no response arrives for
 * `timeoutMs` of unthrottled time, the request is aborted as stalled.
 */
export class StallWatchdog {
  private readonly controller = new AbortController();
  private lastProgress = Date.now();
  private paused = false;
  private readonly timer: NodeJS.Timeout;
  private failure: unknown = null;
  private readonly onParentAbort = (): void => this.abort(this.parent.reason);

  constructor(private readonly timeoutMs: number, private readonly parent: AbortSignal) {
    if (parent.aborted) this.abort(parent.reason);
    parent.addEventListener('abort', this.onParentAbort, { once: true });
    this.timer = setInterval(() => this.check(), Math.min(1000, Math.max(50, timeoutMs / 4)));
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the request was aborted, if the watchdog (or its parent) did it. */
  get reason(): unknown {
    return this.failure;
  }

  progress(): void {
    this.lastProgress = Date.now();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.lastProgress = Date.now();
  }

  abort(reason: unknown): void {
    if (this.failure !== null) return;
    this.failure = reason ?? new Error('aborted');
    this.controller.abort(this.failure);
  }

  dispose(): void {
    clearInterval(this.timer);
    this.parent.removeEventListener('abort', this.onParentAbort);
  }

  private check(): void {
    if (this.paused) return;
    const idle = Date.now() - this.lastProgress;
    if (idle > this.timeoutMs) {
      this.abort(new SpoolError('upload_stalled', `no upload progress for ${idle} ms (UPLOAD_STALL_TIMEOUT_MS=${this.timeoutMs})`));
    }
  }
}
