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
 *
 * Who gets a freed place (issue 18): not simply the longest waiting. Bodies declared larger than
 * LARGE_BODY_BYTES (or of unknown length) hold at most half the places, so twenty 65 MB bodies cannot keep
 * a camera's 2 MB photo waiting for seconds; and the place goes to a body from the client (address) that
 * holds the fewest places, so hundreds of connections from one address queue behind each other, not in
 * front of everyone else.
 */
export interface BodyProgress {
  /** Bytes received so far on the connection (a running count, e.g. socket.bytesRead). */
  bytesRead(): number;
  /** True while the service, not the client, is what stops the body (stream backpressure). */
  heldBack(): boolean;
}

/** Who sends a body and how much it declared: what the hand-over order is decided by. */
export interface BodyClaim {
  /** The client (src/http/client-address.ts); bodies of one client share its turn. */
  client: string;
  /** Content-Length, or undefined when not declared (chunked). */
  declaredBytes: number | undefined;
}

export interface BodyGateOptions {
  slots: number;
  /** How often a reading body's progress is checked. */
  checkMs: number;
  /** Bytes a body must bring per check, unless held back, to keep its place. */
  minBytes: number;
}

/** A body over this takes seconds even on a fast LAN: such bodies share half the places. */
export const LARGE_BODY_BYTES = 16 * 1024 * 1024;

interface Waiter {
  client: string;
  large: boolean;
  admit: () => void;
}

const ANONYMOUS: BodyClaim = { client: '', declaredBytes: 0 };

export class BodyGate {
  private active = 0;
  private activeLarge = 0;
  private readonly largeSlots: number;
  private readonly held = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(private readonly o: BodyGateOptions) {
    if (!(Number.isInteger(o.slots) && o.slots >= 1)) throw new RangeError(`expected slots to be an integer >= 1, got ${o.slots}`);
    this.largeSlots = Math.max(1, Math.floor(o.slots / 2));
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
  async enter(progress: BodyProgress, claim: BodyClaim = ANONYMOUS): Promise<() => void> {
    const large = claim.declaredBytes === undefined || claim.declaredBytes > LARGE_BODY_BYTES;
    await new Promise<void>((admit) => {
      this.waiting.push({ client: claim.client, large, admit });
      this.pump();
    });
    let inPlace = true;
    let last = progress.bytesRead();
    const leave = (): void => {
      if (!inPlace) return;
      inPlace = false;
      clearInterval(timer);
      this.release(claim.client, large);
    };
    const timer = setInterval(() => {
      const now = progress.bytesRead();
      if (now - last < this.o.minBytes && !progress.heldBack()) leave();
      last = now;
    }, this.o.checkMs);
    timer.unref();
    return leave;
  }

  private release(client: string, large: boolean): void {
    this.active--;
    if (large) this.activeLarge--;
    const n = (this.held.get(client) ?? 1) - 1;
    if (n > 0) this.held.set(client, n);
    else this.held.delete(client);
    this.pump();
  }

  /** Fills free places: each goes to the eligible waiter whose client holds the fewest, the earliest first. */
  private pump(): void {
    while (this.active < this.o.slots) {
      let best = -1;
      let fewest = Infinity;
      for (let i = 0; i < this.waiting.length; i++) {
        const w = this.waiting[i] as Waiter;
        if (w.large && this.activeLarge >= this.largeSlots) continue;
        const holds = this.held.get(w.client) ?? 0;
        if (holds < fewest) {
          best = i;
          fewest = holds;
          if (holds === 0) break;
        }
      }
      if (best < 0) return;
      const [w] = this.waiting.splice(best, 1) as [Waiter];
      this.active++;
      if (w.large) this.activeLarge++;
      this.held.set(w.client, fewest + 1);
      w.admit();
    }
  }
}
