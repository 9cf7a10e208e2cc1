/**
 * Bounds how many request bodies are read at the same time. Bodies beyond the bound wait before a byte of
 * them is read: their bytes stay in the kernel's socket buffers, which cost the process no memory and no
 * garbage. Without it, 150 devices sending at once each hold ~300 KB of socket chunks in flight, which
 * drives both peak RSS and V8's external-memory garbage collections (docs/BENCHMARKS.md, issue 7).
 *
 * Only fast senders need the bound, so a body that brings less than `minBytes` in a `checkMs` interval
 * while the service was ready for more gives up its place and carries on outside the bound: a slow sender
 * holds little memory at a time, and must not keep fast ones waiting (the body pace guard limits how slow
 * it may be). A body held back by the service itself (a slow disk) keeps its place.
 */
export interface BodyProgress {
  /** Bytes received so far on the connection (a running count, e.g. socket.bytesRead). */
  bytesRead(): number;
  /** True while the service, not the client, is what stops the body (stream backpressure). */
  heldBack(): boolean;
}

export interface BodyGateOptions {
  slots: number;
  /** How often a reading body's progress is checked. */
  checkMs: number;
  /** Bytes a body must bring per check, unless held back, to keep its place. */
  minBytes: number;
}

export class BodyGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly o: BodyGateOptions) {
    if (!(Number.isInteger(o.slots) && o.slots >= 1)) throw new RangeError(`expected slots to be an integer >= 1, got ${o.slots}`);
  }

  /** Bodies being read in a place now (not counting those that gave theirs up as slow). */
  get reading(): number {
    return this.active;
  }

  /** Bodies waiting for a place, unread. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves when this body may be read; call the returned function once it has been read (or failed). */
  async enter(progress: BodyProgress): Promise<() => void> {
    if (this.active < this.o.slots) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let held = true;
    let last = progress.bytesRead();
    const leave = (): void => {
      if (!held) return;
      held = false;
      clearInterval(timer);
      this.handOver();
    };
    const timer = setInterval(() => {
      const now = progress.bytesRead();
      if (now - last < this.o.minBytes && !progress.heldBack()) leave();
      last = now;
    }, this.o.checkMs);
    timer.unref();
    return leave;
  }

  /** The place goes to the longest-waiting body, or is freed. */
  private handOver(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
