/**
 * Ingest commits without SQLite's own fsync, acknowledged after WalSync's fdatasync of the WAL
 * (src/ledger/wal-sync.ts, src/ledger/group-commit.ts), on a real ledger: callers wait for a sync that
 * started after their commit, commits made during a sync share the next one, and a failed sync fails its
 * waiters and every later caller while the rows stay in the ledger. The order of the real syscalls before
 * each 202 is checked by test/durability/syscall-order.test.ts; a real failing fdatasync by
 * test/durability/wal-sync-failure.test.ts.
 */
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/ledger/group-commit.js';
import { ImageLedger } from '../../src/ledger/images.js';
import { openLedger, withoutFsync, type Db } from '../../src/ledger/open.js';
import type { InsertResult } from '../../src/ledger/types.js';
import { WalSync, WalSyncFailed } from '../../src/ledger/wal-sync.js';
import { newImage, tempLedger, type TempLedger } from '../helpers/ledger.js';

/** A datasync that runs the real one only when the test lets it: syncs in flight can be held and counted. */
function heldDatasync(): { datasync: (file: FileHandle) => Promise<void>; started: number; release(): void; fail(err: Error): void } {
  const held: Array<{ go: () => void; stop: (err: Error) => void }> = [];
  const control = {
    started: 0,
    datasync: async (file: FileHandle): Promise<void> => {
      control.started++;
      await new Promise<void>((go, stop) => held.push({ go, stop }));
      await file.datasync();
    },
    release: () => held.shift()?.go(),
    fail: (err: Error) => held.shift()?.stop(err),
  };
  return control;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits (up to 5 s) until `n` syncs have reached the datasync: the first one opens the WAL first. */
async function syncsStarted(control: { started: number }, n: number): Promise<void> {
  for (const deadline = Date.now() + 5000; control.started < n;) {
    if (Date.now() > deadline) throw new Error(`${control.started} syncs started, expected ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Settles to 'pending' if `p` has not settled after a few event-loop turns. */
async function stateOf(p: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  p.then(() => { state = 'fulfilled'; }, () => { state = 'rejected'; });
  for (let i = 0; i < 5; i++) await turn();
  return state;
}

describe('WalSync with the group committer', () => {
  let temp: TempLedger;
  let db: Db;
  let ledger: ImageLedger;
  beforeEach(() => {
    temp = tempLedger('wal-sync-');
    db = temp.db;
    ledger = new ImageLedger(db);
  });
  afterEach(() => temp.remove());

  const walPath = (): string => path.join(temp.dir, 'ledger.db-wal');

  function committerWith(walSync: WalSync): GroupCommitter {
    return new GroupCommitter((rows) => withoutFsync(db, () => ledger.insertMany(rows)), { durable: () => walSync.sync() });
  }

  it('answers a commit only after a sync that started after it; commits made meanwhile share the next sync', async () => {
    const control = heldDatasync();
    const walSync = new WalSync(walPath(), control.datasync);
    const committer = committerWith(walSync);
    const first = Promise.all(['A1', 'A2', 'A3'].map((id) => committer.insert(newImage(id))));
    await syncsStarted(control, 1);
    // Committed (another connection could read the rows), not answered: its sync is held.
    expect(ledger.summary().queued).toBe(3);
    expect(await stateOf(first)).toBe('pending');
    // Two more transactions while that sync runs: they cannot use it, it may have started before their frames.
    const second = Promise.all(['B1', 'B2'].map((id) => committer.insert(newImage(id))));
    await turn();
    const third = committer.insert(newImage('C1'));
    await turn();
    expect(ledger.summary().queued).toBe(6);
    control.release();
    expect(await first).toEqual([{ kind: 'inserted' }, { kind: 'inserted' }, { kind: 'inserted' }]);
    expect(await stateOf(second)).toBe('pending');
    expect(await stateOf(third)).toBe('pending');
    await syncsStarted(control, 2);
    expect(control.started).toBe(2); // one sync for both, started once the first ended
    control.release();
    expect(await second).toHaveLength(2);
    expect(await third).toEqual({ kind: 'inserted' });
    expect(walSync.syncs).toBe(2);
    expect(committer.commits).toBe(3);
    await walSync.close();
  });

  it('a failed sync fails its callers and every later one; the rows stay in the ledger, nothing is answered as stored', async () => {
    const control = heldDatasync();
    const walSync = new WalSync(walPath(), control.datasync);
    const committer = committerWith(walSync);
    const waiting = committer.insert(newImage('F1'));
    await syncsStarted(control, 1);
    const eio = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    control.fail(eio);
    const err = await waiting.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WalSyncFailed);
    expect(err).toMatchObject({ code: 'ledger_unavailable', status: 503 });
    expect(String((err as Error).message)).toMatch(/could not be synced to disk \(EIO: i\/o error, fdatasync\); nothing is acknowledged until the service restarts/);
    expect(walSync.failed).toBe((err as Error).message);
    // Committed before the sync failed: the row is there, so its file must stay (ingest keeps it).
    expect(ledger.get('F1')).toMatchObject({ state: 'queued' });
    // Later commits are not answered either, and no sync is even tried: after an fsync error none can prove anything.
    const later: unknown = await committer.insert(newImage('F2')).then(() => null, (e: unknown) => e);
    expect(later).toBeInstanceOf(WalSyncFailed);
    await expect(walSync.caughtUp()).rejects.toBeInstanceOf(WalSyncFailed); // the uploader pauses on it
    expect(control.started).toBe(1);
    await walSync.close();
  });

  it('readers wait with caughtUp for the syncs already asked for, and start none of their own', async () => {
    const control = heldDatasync();
    const walSync = new WalSync(walPath(), control.datasync);
    const committer = committerWith(walSync);
    await walSync.caughtUp(); // nothing committed, nothing to wait for
    expect(control.started).toBe(0);
    const first = committer.insert(newImage('U1'));
    await syncsStarted(control, 1);
    const second = committer.insert(newImage('U2')); // committed during the first sync: needs the next one
    await turn();
    const reader = walSync.caughtUp();
    control.release();
    await first;
    expect(await stateOf(reader)).toBe('pending'); // U2's sync has not run yet
    await syncsStarted(control, 2);
    control.release();
    await Promise.all([second, reader]);
    expect(control.started).toBe(2); // the reader added none
    await walSync.close();
  });

  it('with the real fdatasync: 20 concurrent inserts are one transaction and one sync, and a second connection reads them all', async () => {
    const walSync = new WalSync(walPath());
    const committer = committerWith(walSync);
    const results: InsertResult[] = await Promise.all(Array.from({ length: 20 }, (_, i) => committer.insert(newImage(`R${i}`))));
    expect(results.every((r) => r.kind === 'inserted')).toBe(true);
    expect([committer.commits, walSync.syncs]).toEqual([1, 1]);
    const reader = openLedger(path.join(temp.dir, 'ledger.db'), { readonly: true });
    expect(new ImageLedger(reader).summary().queued).toBe(20);
    reader.close();
    await walSync.close();
  });
});
