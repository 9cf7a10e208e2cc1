/**
 * Slow uploads (issue 18, item 8): each connection declares a ~4 MB multipart body and sends `bytesPerSec`
 * of it, from the hostile addresses in turn. A connection that gets an answer or is cut is reopened after
 * `reopenMs`, so the service faces `count` of them for the whole run.
 */
import net from 'node:net';
import { imageForm, requestHead } from './forms.js';
import { hostileAddress } from './http-post.js';
import { Tally, errorOutcome } from './tally.js';

export interface TricklerOptions {
  port: number;
  count: number;
  bytesPerSec: number;
  declaredBytes: number;
  reopenMs: number;
}

const KIND = 'trickler';
const JPEG_START = Buffer.from([0xff, 0xd8, 0xff, 0xe0]);

interface Trickler {
  socket: net.Socket;
  sent: number;
  declared: number;
}

export class Tricklers {
  readonly tally = new Tally();
  opened = 0;
  /** Connections open when stop() was called. */
  openAtStop = 0;
  private readonly live = new Set<Trickler>();
  private readonly reopenTimers = new Set<NodeJS.Timeout>();
  private ticker: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: TricklerOptions) {}

  start(): void {
    for (let i = 0; i < this.o.count; i++) this.open(i);
    // One timer for all: each live connection gets its next second's worth.
    this.ticker = setInterval(() => {
      for (const t of this.live) this.feed(t);
    }, 1000);
  }

  /** Connections open now. */
  openNow(): number {
    return this.live.size;
  }

  stop(): void {
    this.stopped = true;
    this.openAtStop = this.live.size;
    clearInterval(this.ticker);
    for (const timer of this.reopenTimers) clearTimeout(timer);
    for (const t of this.live) t.socket.destroy();
    this.live.clear();
  }

  private open(n: number): void {
    if (this.stopped) return;
    this.opened++;
    const form = imageForm(`trickle-${n}`, [JPEG_START]);
    const declared = form.length - JPEG_START.length + this.o.declaredBytes;
    const head = requestHead([['Content-Type', `multipart/form-data; boundary=${form.boundary}`], ['Content-Length', String(declared)]]);
    const socket = net.connect({ port: this.o.port, host: '127.0.0.1', localAddress: hostileAddress(n) });
    const t: Trickler = { socket, sent: 0, declared };
    let answer = Buffer.alloc(0);
    let outcome: string | null = null;
    let socketError: string | null = null;
    socket.on('data', (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]).subarray(0, 1024);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer.toString('latin1'));
      if (status && outcome === null) {
        outcome = status[1] as string;
        socket.destroy(); // the answer is what we came for; a slow client would give up too
      }
    });
    socket.on('error', (err) => { socketError = errorOutcome(err); });
    socket.on('close', () => {
      this.live.delete(t);
      if (this.stopped) return;
      this.tally.add(KIND, outcome ?? `cut without answer${socketError === null ? '' : ` (${socketError})`}`);
      const timer = setTimeout(() => {
        this.reopenTimers.delete(timer);
        this.open(n);
      }, this.o.reopenMs);
      this.reopenTimers.add(timer);
    });
    socket.once('connect', () => {
      const start = Buffer.concat(form.parts.slice(0, -1)); // the fields and the image's first bytes; never its end
      socket.write(Buffer.concat([head, start]));
      t.sent = start.length;
      this.live.add(t);
    });
  }

  private feed(t: Trickler): void {
    const room = t.declared - t.sent;
    if (room <= 0 || t.socket.destroyed || t.socket.writableLength > 64 * 1024) return;
    const chunk = Buffer.alloc(Math.min(room, this.o.bytesPerSec), 0x5a);
    t.sent += chunk.length;
    t.socket.write(chunk);
  }
}
