import type { IncomingMessage } from 'node:http';
import { SpoolError } from '../errors.js';
import { readingBody } from './body-pace.js';

export interface ClientSlotsOptions {
  /** MAX_CONCURRENT_UPLOADS: uploads in progress at once, from all clients. */
  total: number;
  /** MAX_UPLOADS_PER_ADDRESS as a count: what one client may hold even when nobody else is there. */
  perClient: number;
  /** How long a request waits for the slot of an upload it displaced (normally a few ms). */
  handOverMs?: number;
}

interface Slot {
  client: string;
  req: IncomingMessage;
  /** Set when this slot was promised to a newcomer: called instead of freeing it. */
  handOver: (() => void) | null;
}

const RETRY_AFTER = { 'Retry-After': '1' };

/**
 * Ingest slots shared fairly between client addresses (issue 18: 256 connections trickling 1.2 KB/s from
 * one machine held every slot, and real cameras got 503 for as long as they kept at it).
 *
 * - One client (src/http/client-address.ts) holds at most `perClient` slots: the rest stay for others.
 * - When every slot is taken, a client holding less than its fair share (total / clients) still gets in:
 *   the slowest body of the client holding the most is answered 503 `too_busy` and its slot handed over.
 *   So any number of slow connections from a few addresses cannot keep one camera out, while one client on
 *   its own (a NAT of cameras, a load test) may use up to `perClient`.
 */
export class ClientSlots {
  private readonly byClient = new Map<string, Set<Slot>>();
  private used = 0;

  constructor(private readonly o: ClientSlotsOptions) {
    if (!(Number.isInteger(o.total) && o.total >= 1)) throw new RangeError(`expected total to be an integer >= 1, got ${o.total}`);
    if (!(Number.isInteger(o.perClient) && o.perClient >= 1 && o.perClient <= o.total)) {
      throw new RangeError(`expected perClient to be an integer from 1 to total (${o.total}), got ${o.perClient}`);
    }
  }

  /** Slots in use now. */
  get inUse(): number {
    return this.used;
  }

  /** Takes a slot for `req` from `client`; resolves with its release, or throws 503 `too_busy`. */
  async take(client: string, req: IncomingMessage): Promise<() => void> {
    const holds = this.holdings(client);
    if (holds >= this.o.perClient) {
      throw new SpoolError('too_busy', `this address already has ${holds} uploads in progress (MAX_UPLOADS_PER_ADDRESS=${this.o.perClient}); retry shortly`, { headers: RETRY_AFTER });
    }
    if (this.used < this.o.total) return this.grant(client, req);
    const victim = this.victimFor(client);
    if (!victim) {
      throw new SpoolError('too_busy', `${this.used} uploads in progress (MAX_CONCURRENT_UPLOADS=${this.o.total}); retry shortly`, { headers: RETRY_AFTER });
    }
    await this.displace(victim);
    return this.grant(client, req, false);
  }

  private holdings(client: string): number {
    return this.byClient.get(client)?.size ?? 0;
  }

  private grant(client: string, req: IncomingMessage, count = true): () => void {
    const slot: Slot = { client, req, handOver: null };
    let set = this.byClient.get(client);
    if (!set) this.byClient.set(client, (set = new Set()));
    set.add(slot);
    if (count) this.used++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free(slot);
    };
  }

  private free(slot: Slot): void {
    const set = this.byClient.get(slot.client);
    set?.delete(slot);
    if (set?.size === 0) this.byClient.delete(slot.client);
    if (slot.handOver) slot.handOver(); // the slot stays in use: it is the newcomer's now
    else this.used--;
  }

  /**
   * The body to refuse so that `client` gets a slot: only while `client` holds less than its fair share,
   * from the clients holding more than theirs, the heaviest first, the body being read the slowest. Bodies
   * not being read yet (waiting for a read slot) cannot be refused mid-way: a client with none being read
   * is passed over for the next.
   */
  private victimFor(client: string): Slot | null {
    const clients = this.byClient.size + (this.byClient.has(client) ? 0 : 1);
    const share = Math.floor(this.o.total / clients);
    if (this.holdings(client) >= share) return null;
    const over = [...this.byClient.values()].filter((set) => set.size > share).sort((a, b) => b.size - a.size);
    for (const set of over) {
      const victim = slowestBeingRead(set);
      if (victim) return victim;
    }
    return null;
  }

  /** Refuses the victim's upload and waits until its request has let go of the slot. */
  private displace(victim: Slot): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        victim.handOver = null;
        reject(new SpoolError('too_busy', `${this.used} uploads in progress (MAX_CONCURRENT_UPLOADS=${this.o.total}); retry shortly`, { headers: RETRY_AFTER }));
      }, this.o.handOverMs ?? 2000);
      timer.unref();
      victim.handOver = () => {
        clearTimeout(timer);
        resolve();
      };
      readingBody(victim.req)?.cut(new SpoolError('too_busy',
        `the gateway is full and this address holds more than its share of the uploads in progress; this one, the slowest, gives its slot to another device (MAX_CONCURRENT_UPLOADS=${this.o.total}); retry shortly`,
        { headers: { ...RETRY_AFTER, Connection: 'close' } }));
    });
  }
}

function slowestBeingRead(slots: Iterable<Slot>): Slot | null {
  let victim: Slot | null = null;
  let slowest = Infinity;
  for (const slot of slots) {
    const body = readingBody(slot.req);
    if (slot.handOver || !body) continue;
    const rate = body.bytesPerSec();
    if (rate < slowest) {
      slowest = rate;
      victim = slot;
    }
  }
  return victim;
}
