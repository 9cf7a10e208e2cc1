/**
 * Ingest slots shared between client addresses: a per-address cap, and, once every slot is taken, a client
 * below its fair share displaces the slowest body of the client holding the most.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isSpoolError, type SpoolError } from '../../src/errors.js';
import { guardBodyPace } from '../../src/http/body-pace.js';
import { ClientSlots } from '../../src/http/client-slots.js';

const PACE = { windowMs: 60_000, minBytesPerSec: 1 };
const stops: Array<() => void> = [];
afterEach(() => { while (stops.length) (stops.pop() as () => void)(); });

/** A request whose body is being read under a pace guard, `bytes` of it so far; `cuts` collects what it was refused with. */
function reading(bytes: number): { req: IncomingMessage; cuts: SpoolError[] } {
  const req = new IncomingMessage(new Socket());
  const cuts: SpoolError[] = [];
  stops.push(guardBodyPace(req, PACE, (err) => cuts.push(err)));
  req.emit('data', Buffer.alloc(bytes));
  return { req, cuts };
}

const notReading = (): IncomingMessage => new IncomingMessage(new Socket());

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'granted';
  } catch (err) {
    return isSpoolError(err) ? `${err.code}: ${err.message}` : String(err);
  }
}

describe('ClientSlots', () => {
  it('one address holds at most perClient slots, even with the rest free', async () => {
    const slots = new ClientSlots({ total: 8, perClient: 2 });
    const release = await slots.take('10.0.0.1', notReading());
    await slots.take('10.0.0.1', notReading());
    expect(await refusal(slots.take('10.0.0.1', notReading()))).toMatch(/^too_busy: .*MAX_UPLOADS_PER_ADDRESS=2/);
    expect(await refusal(slots.take('10.0.0.2', notReading()))).toBe('granted');
    release();
    expect(await refusal(slots.take('10.0.0.1', notReading()))).toBe('granted');
    expect(slots.inUse).toBe(3);
  });

  it('when full, a client below its share takes the slot of the slowest body of the heaviest client', async () => {
    const slots = new ClientSlots({ total: 4, perClient: 3 });
    const fast = reading(500_000);
    const slow = reading(600);
    const medium = reading(50_000);
    const releases = new Map<IncomingMessage, () => void>();
    for (const r of [fast, slow, medium]) releases.set(r.req, await slots.take('nat', r.req));
    await slots.take('cam-a', notReading());
    // 'nat' holds 3 of 4; 'cam-b' arrives: its share is 4 / 3 clients = 1, and it holds none.
    const newcomer = slots.take('cam-b', notReading());
    expect(slow.cuts.map((e) => e.code)).toEqual(['too_busy']);
    expect(slow.cuts[0]?.headers).toMatchObject({ 'Retry-After': '1', Connection: 'close' });
    expect(fast.cuts).toEqual([]);
    expect(medium.cuts).toEqual([]);
    // The refused request answers and lets go of its slot: it passes straight to the newcomer.
    (releases.get(slow.req) as () => void)();
    await newcomer;
    expect(slots.inUse).toBe(4);
    // The heaviest client itself, now at 2, is not below its share (1): it gets no one's slot.
    expect(await refusal(slots.take('nat', notReading()))).toMatch(/^too_busy: 4 uploads in progress \(MAX_CONCURRENT_UPLOADS=4\)/);
  });

  it('when full and no over-share body is being read, or the displaced one does not let go in time, the newcomer gets 503', async () => {
    const slots = new ClientSlots({ total: 2, perClient: 2, handOverMs: 50 });
    await slots.take('nat', notReading());
    await slots.take('nat', notReading());
    expect(await refusal(slots.take('cam', notReading()))).toMatch(/^too_busy: 2 uploads in progress/);

    const stuck = new ClientSlots({ total: 2, perClient: 2, handOverMs: 50 });
    const body = reading(10);
    const release = await stuck.take('nat', body.req);
    await stuck.take('nat', reading(10_000).req);
    expect(await refusal(stuck.take('cam', notReading()))).toMatch(/^too_busy: 2 uploads in progress/);
    expect(body.cuts.map((e) => e.code)).toEqual(['too_busy']);
    release(); // late: the slot is simply free again
    expect(stuck.inUse).toBe(1);
  });
});
