import { setImmediate as nextTurn } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Admission, SpoolUsage } from '../../src/spool/admission.js';
import { FreeSpace } from '../../src/spool/free-space.js';

const log = pino({ level: 'silent' });

function admission(o: { free: number; minFree: number; max?: number; stored?: number; rate?: number }) {
  const usage = new SpoolUsage(() => o.stored ?? 0);
  const a = new Admission({
    maxBytes: o.max ?? Infinity, minFreeBytes: o.minFree, policy: 'reject', maxConcurrent: 10, usage,
    freeBytes: async () => o.free, evictOldest: async () => 0, contents: () => ({ queued: 0, uploading: 0, dead: 0, uploaded: 0 }),
    drainRate: () => o.rate ?? 1_000_000, log,
  });
  return { a, usage };
}

/**
 * A spool of `images` queued images of `size` bytes under SPOOL_MAX_BYTES = `max`, with evict-oldest. Every
 * await takes a turn of the event loop, as statfs and unlink do: requests interleave as they do for real.
 */
function evictingSpool(o: { images: number; size: number; max: number; uploading?: number }) {
  let queued = o.images;
  const uploading = o.uploading ?? 0;
  const stored = (): number => (queued + uploading) * o.size;
  const usage = new SpoolUsage(stored);
  const warnings: string[] = [];
  const capture = { warn: (_fields: object, msg: string) => warnings.push(msg) } as unknown as typeof log;
  const a = new Admission({
    maxBytes: o.max, minFreeBytes: 0, policy: 'evict-oldest', maxConcurrent: 1000, usage,
    freeBytes: async () => { await nextTurn(); return Infinity; },
    evictOldest: async (bytes) => {
      const n = Math.min(queued, Math.ceil(bytes / o.size));
      queued -= n; // the ledger's transaction
      for (let i = 0; i < n; i++) await nextTurn(); // the unlinks
      return n * o.size;
    },
    contents: () => ({ queued: queued * o.size, uploading: uploading * o.size, dead: 0, uploaded: 0 }),
    drainRate: () => 1_000_000, log: capture,
  });
  return { a, usage, warnings, queued: () => queued, stored };
}

describe('Admission', () => {
  it('keeps SPOOL_MIN_FREE_BYTES free (statfs), counting bytes reserved by ingests still being received', async () => {
    const { a } = admission({ free: 10_000_000, minFree: 5_000_000 });
    const t1 = await a.admit(3_000_000); // 10 - 3 = 7 MB left >= 5
    await expect(a.admit(3_000_000)).rejects.toMatchObject({ code: 'disk_full', status: 507 }); // 10 - 6 = 4 < 5
    t1.release();
    const t2 = await a.admit(3_000_000); // the first one finished (not acknowledged): room again
    t2.release();
  });

  it('sets Retry-After from the drain rate: seconds until uploads have freed the overshoot, within 1 s .. 1 h', async () => {
    const { a } = admission({ free: Infinity, minFree: 0, max: 10_000_000, stored: 10_000_000, rate: 500_000 });
    const err = await a.admit(2_000_000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'disk_full', headers: { 'Retry-After': '4' } }); // 2 MB over at 0.5 MB/s
    const slow = admission({ free: Infinity, minFree: 0, max: 1, stored: 10_000_000_000, rate: 1000 }).a;
    expect(await slow.admit(1).catch((e: unknown) => e)).toMatchObject({ headers: { 'Retry-After': '3600' } });
  });

  it('releases a refused request\'s reservation and slot', async () => {
    const { a, usage } = admission({ free: Infinity, minFree: 0, max: 1_000 });
    await expect(a.admit(5_000)).rejects.toMatchObject({ code: 'disk_full' });
    expect(usage.total).toBe(0);
    expect(a.active).toBe(0);
  });

  it('evict-oldest under concurrent load: every request admitted while queued images are left, each evicting only its own share', async () => {
    const spool = evictingSpool({ images: 100, size: 1000, max: 100_000 });
    const tickets = await Promise.all(Array.from({ length: 60 }, () => spool.a.admit(1000).then((t) => t, (e: unknown) => e)));
    expect(tickets.filter((t) => t instanceof Error)).toEqual([]);
    // 60 admitted, 60 evicted: not one more than their reservations needed.
    expect(spool.queued()).toBe(40);
    expect(spool.usage.total).toBe(100_000);
    expect(spool.warnings).toEqual([]);
  });

  it('evict-oldest refuses only when the queued images cannot make room, evicting none in vain, and says why', async () => {
    const spool = evictingSpool({ images: 3, size: 1000, max: 5_000, uploading: 2 });
    const admitted = await Promise.all([spool.a.admit(1000), spool.a.admit(1000), spool.a.admit(1000)]);
    expect(spool.queued()).toBe(0);
    const refused = await spool.a.admit(1000).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'disk_full', message: expect.stringMatching(/nothing left to evict: 0\.0 MB queued \(evictable\), 0\.0 MB being uploaded/) });
    expect(spool.warnings).toEqual([expect.stringMatching(/^spool full and nothing left to evict \(SPOOL_FULL_POLICY=evict-oldest\): /)]);
    for (const t of admitted) t.release();
    // A request larger than everything evictable is refused without evicting anything.
    const big = evictingSpool({ images: 3, size: 1000, max: 5_000 });
    await expect(big.a.admit(9_000)).rejects.toMatchObject({ code: 'disk_full' });
    expect(big.queued()).toBe(3);
  });

  it('a ticket grows as an upload link\'s images arrive: each step checked, a refused step reserves nothing', async () => {
    const { a, usage } = admission({ free: 10_000_000, minFree: 5_000_000 });
    const ticket = await a.admit(1_000_000);
    await ticket.grow(2_000_000);
    expect(usage.reservedBytes).toBe(3_000_000);
    await expect(ticket.grow(3_000_000)).rejects.toMatchObject({ code: 'disk_full' }); // 10 - 6 < 5
    expect(usage.reservedBytes).toBe(3_000_000);
    ticket.release();
    expect(usage.reservedBytes).toBe(0);
  });
});

describe('FreeSpace', () => {
  it('reads statfs at most once per interval, and follows what the spool stores and frees in between', async () => {
    let stored = 0;
    let reads = 0;
    const disk = { free: 64_000_000 };
    let unrecorded = 0;
    const space = new FreeSpace('/spool', { stored: () => stored, unrecorded: () => unrecorded }, 60_000, async () => { reads++; return disk.free; });
    expect(await space.bytes()).toBe(64_000_000);
    // 40 MB of images committed: statfs would say so only at its next reading; the estimate says so now.
    stored += 40_000_000;
    disk.free -= 40_000_000;
    expect(await space.bytes()).toBe(24_000_000);
    stored -= 10_000_000; // evicted or uploaded, files deleted
    expect(await space.bytes()).toBe(34_000_000);
    expect(await space.measured()).toBe(64_000_000);
    expect(reads).toBe(1);
    // A reading taken while 5 MB of an ingest in progress are on disk leaves them out: its reservation counts them.
    const fresh = new FreeSpace('/spool', { stored: () => stored, unrecorded: () => unrecorded }, 60_000, async () => disk.free - 5_000_000);
    unrecorded = 5_000_000;
    expect(await fresh.bytes()).toBe(disk.free);
    unrecorded = 0; // its row committed: the ledger counts it now
    stored += 5_000_000;
    expect(await fresh.bytes()).toBe(disk.free - 5_000_000);
    const concurrent = new FreeSpace('/spool', { stored: () => 0, unrecorded: () => 0 }, 0, async () => { reads++; await nextTurn(); return 1; });
    await Promise.all([concurrent.bytes(), concurrent.bytes(), concurrent.bytes()]);
    expect(reads).toBe(2);
  });
});
