/**
 * Issue 18 item 9, at the ledger: another connection holds the write lock (here a second connection, as an
 * operator's sqlite3 would). The service's connection never waits for it inside SQLite (that wait stops the
 * event loop); group commits and background writes wait on timers, and give up with ledger_busy.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSpoolError } from '../../src/errors.js';
import { retryWhileBusy, stopWaitingForLocks } from '../../src/ledger/busy.js';
import { GroupCommitter } from '../../src/ledger/group-commit.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { newImage, tempLedger, type TempLedger } from '../helpers/ledger.js';

describe('a ledger locked by another connection', () => {
  let temp: TempLedger;
  let ledger: ImageLedger;
  let operator: Database.Database;

  beforeEach(() => {
    temp = tempLedger('spool-lock-wait-');
    stopWaitingForLocks(temp.db);
    ledger = new ImageLedger(temp.db);
    operator = new Database(path.join(temp.dir, 'ledger.db'));
    operator.exec('BEGIN IMMEDIATE');
  });

  /** Ends the operator's transaction after `ms` (this test's operator, even if the test ends first). */
  function releaseAfter(ms: number): void {
    const held = operator;
    setTimeout(() => { if (held.open && held.inTransaction) held.exec('ROLLBACK'); }, ms);
  }

  afterEach(() => {
    if (operator.inTransaction) operator.exec('ROLLBACK');
    operator.close();
    temp.remove();
  });

  /** Longest gap between 5 ms ticks while `work` runs: how long the event loop was stopped. */
  async function longestStall<T>(work: Promise<T>): Promise<{ result: PromiseSettledResult<T>; stallMs: number }> {
    let last = performance.now();
    let stallMs = 0;
    const tick = setInterval(() => {
      stallMs = Math.max(stallMs, performance.now() - last);
      last = performance.now();
    }, 5);
    const [result] = await Promise.allSettled([work]);
    clearInterval(tick);
    return { result, stallMs };
  }

  it('group commit: rows wait on timers while the lock is held, and commit once it ends', async () => {
    const committer = new GroupCommitter((rows) => ledger.insertMany(rows), { lockWaitMs: 5000 });
    releaseAfter(300);
    const { result, stallMs } = await longestStall(Promise.all([committer.insert(newImage('A1')), committer.insert(newImage('A2'))]));
    expect(result).toEqual({ status: 'fulfilled', value: [{ kind: 'inserted' }, { kind: 'inserted' }] });
    expect(ledger.summary().queued).toBe(2);
    expect(stallMs).toBeLessThan(100);
  });

  it('group commit: past LEDGER_LOCK_WAIT_MS the callers get ledger_busy with Retry-After, and nothing is written', async () => {
    const committer = new GroupCommitter((rows) => ledger.insertMany(rows), { lockWaitMs: 200 });
    const started = performance.now();
    const { result, stallMs } = await longestStall(committer.insert(newImage('B1')));
    const waited = performance.now() - started;
    expect(result.status).toBe('rejected');
    const err = (result as PromiseRejectedResult).reason as unknown;
    expect(isSpoolError(err, 'ledger_busy')).toBe(true);
    expect(err).toMatchObject({ status: 503, headers: { 'Retry-After': '2' } });
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(1000);
    expect(stallMs).toBeLessThan(100);
    operator.exec('ROLLBACK');
    expect(ledger.get('B1')).toBeUndefined();
    // The lock gone, the next row commits at once.
    expect(await committer.insert(newImage('B2'))).toEqual({ kind: 'inserted' });
  });

  it('a background write (retryWhileBusy) waits for the lock on timers and lands once it ends, or gives up with SQLITE_BUSY', async () => {
    operator.exec('ROLLBACK');
    ledger.insertMany([newImage('C1')]);
    operator.exec('BEGIN IMMEDIATE');
    const write = (): void => ledger.setMetadata('C1', { width: 640, height: 480, camera_make: null, camera_model: null, gps_lat: null, gps_lon: null, captured_at: null, captured_at_utc: null, orientation: null }, new Date());
    expect(write).toThrow(expect.objectContaining({ code: 'SQLITE_BUSY' }));
    const gaveUp = await longestStall(retryWhileBusy(write, { maxWaitMs: 150 }));
    expect(gaveUp.result).toMatchObject({ status: 'rejected', reason: { code: 'SQLITE_BUSY' } });
    releaseAfter(300);
    const { result, stallMs } = await longestStall(retryWhileBusy(write));
    expect(result.status).toBe('fulfilled');
    expect(ledger.get('C1')).toMatchObject({ width: 640, height: 480 });
    expect(Math.max(stallMs, gaveUp.stallMs)).toBeLessThan(100);
  });
});
