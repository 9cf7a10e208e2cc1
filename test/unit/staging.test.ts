import { describe, expect, it } from 'vitest';
import { STAGING_BLOCK_BYTES, StagingPool } from '../../src/spool/staging.js';

describe('StagingPool', () => {
  it('creates blocks only as needed, up to its maximum, then hands released blocks to waiters in order', async () => {
    const pool = new StagingPool(2);
    expect(pool.blocks).toBe(0);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(pool.blocks).toBe(2);
    expect([a.offset, b.offset]).toEqual([0, STAGING_BLOCK_BYTES]);
    expect(a.buf.length).toBe(STAGING_BLOCK_BYTES);
    // Distinct memory: writing one block leaves the other alone.
    a.buf.fill(1);
    b.buf.fill(2);
    expect(a.buf.every((x) => x === 1)).toBe(true);

    const order: string[] = [];
    const first = pool.acquire().then((blk) => { order.push('first'); return blk; });
    const second = pool.acquire().then((blk) => { order.push('second'); return blk; });
    await Promise.resolve();
    expect(order).toEqual([]); // both wait: the pool is at its maximum
    pool.release(b);
    expect(await first).toBe(b);
    pool.release(a);
    expect(await second).toBe(a);
    expect(order).toEqual(['first', 'second']);
    expect(pool.blocks).toBe(2);
  });

  it('keeps earlier views valid as the shared memory grows', async () => {
    const pool = new StagingPool(8);
    const first = await pool.acquire();
    first.buf.fill(7);
    const more = await Promise.all(Array.from({ length: 7 }, () => pool.acquire()));
    expect(pool.memory.buffer.byteLength).toBe(8 * STAGING_BLOCK_BYTES);
    expect(first.buf.every((x) => x === 7)).toBe(true);
    expect(new Set(more.map((m) => m.offset)).size).toBe(7);
  });

  it('refuses a maximum that is not a positive integer', () => {
    expect(() => new StagingPool(0)).toThrow(RangeError);
    expect(() => new StagingPool(1.5)).toThrow(RangeError);
  });
});
