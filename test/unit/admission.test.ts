import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Admission, SpoolUsage } from '../../src/spool/admission.js';

const log = pino({ level: 'silent' });

function admission(o: { free: number; minFree: number; max?: number; stored?: number; rate?: number }) {
  const usage = new SpoolUsage(() => o.stored ?? 0);
  const a = new Admission({
    maxBytes: o.max ?? Infinity, minFreeBytes: o.minFree, policy: 'reject', maxConcurrent: 10, usage,
    freeBytes: async () => o.free, evictOldest: async () => 0, drainRate: () => o.rate ?? 1_000_000, log,
  });
  return { a, usage };
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
});
