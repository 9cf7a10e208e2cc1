/**
 * The power-loss layer itself (test/powerloss/powerloss_fs.py), before anything is concluded from it about
 * the service: each rule, positive and negative, through a real FUSE mount and a real cut and remount;
 * then SQLite in WAL mode, whose -shm is a shared mmap, keeping every commit across a cut with
 * synchronous=FULL and losing them with OFF. Skipped, with the reason printed, without /dev/fuse or fusepy;
 * with CI=true that is one failing test instead.
 */
import { closeSync, constants, existsSync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { describeOrSkip } from '../helpers/describe-or-skip.js';
import { PowerLossDisk, powerLossUnavailable } from './layer.js';

const unavailable = powerLossUnavailable();

/** fsync of a directory: makes its entries durable (and nothing else). */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` and fsyncs the file (not its directory). */
function writeSynced(file: string, data: string): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function errnoOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describeOrSkip('power-loss layer', unavailable, () => {
  let work: string;
  let layer: PowerLossDisk;
  let m: (...parts: string[]) => string;

  beforeEach(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'powerloss-layer-'));
    layer = new PowerLossDisk(path.join(work, 'disk'), path.join(work, 'mnt'));
    m = (...parts) => path.join(layer.mountpoint, ...parts);
    await layer.mount();
  });

  afterEach(async () => {
    await layer.unmount();
    expect(layer.errors, 'the layer logged errors').toBe('');
    await rm(work, { recursive: true, force: true });
  });

  afterAll(async () => {
    await layer?.unmount();
  });

  /** Cut the power, remount: what is visible now is what the disk held. */
  const powerCycle = async (mode: 'clean' | 'torn' | 'reorder' = 'clean', seed = 0): Promise<void> => {
    await layer.cut(mode, seed);
    await layer.unmount();
    await layer.mount();
  };

  it('file data: durable after fsync; after a cut without one, the synced version (or an empty file)', async () => {
    writeSynced(m('synced'), 'v1');
    writeFileSync(m('never-synced'), 'written, never fsynced');
    syncDir(layer.mountpoint); // both names durable
    writeFileSync(m('synced'), 'v2 not synced');
    await powerCycle();
    expect(readFileSync(m('synced'), 'utf8')).toBe('v1');
    expect(readFileSync(m('never-synced'), 'utf8')).toBe(''); // a durable name for never-synced data: empty
    expect(readFileSync(path.join(layer.durableDir, 'synced'), 'utf8')).toBe('v1'); // the disk itself
  });

  it('fsync or fdatasync of any descriptor makes the file data durable', async () => {
    const writer = openSync(m('a'), 'w');
    writeSync(writer, 'through fd 1');
    const reader = openSync(m('a'), 'r');
    fsyncSync(reader); // another descriptor of the same file
    closeSync(reader);
    closeSync(writer);
    const b = openSync(m('b'), 'w');
    writeSync(b, 'fdatasync');
    fdatasyncSync(b);
    closeSync(b);
    syncDir(layer.mountpoint);
    await powerCycle();
    expect(readFileSync(m('a'), 'utf8')).toBe('through fd 1');
    expect(readFileSync(m('b'), 'utf8')).toBe('fdatasync');
  });

  it('truncation is data: durable only with a sync', async () => {
    writeSynced(m('t'), 'x'.repeat(100));
    writeSynced(m('u'), 'y'.repeat(100));
    syncDir(layer.mountpoint);
    const t = openSync(m('t'), 'r+');
    ftruncateSync(t, 10);
    closeSync(t);
    const u = openSync(m('u'), 'r+');
    ftruncateSync(u, 0);
    writeSync(u, 'zz', 0);
    ftruncateSync(u, 50); // shrink, write, grow: the durable file must not keep the old bytes
    fsyncSync(u);
    closeSync(u);
    await powerCycle();
    expect(statSync(m('t')).size).toBe(100);
    expect(readFileSync(m('u'))).toEqual(Buffer.concat([Buffer.from('zz'), Buffer.alloc(48)]));
  });

  it('create: durable only when its directory is fsynced (the file fsync is not enough)', async () => {
    writeSynced(m('named'), 'both');
    mkdirSync(m('sub'));
    syncDir(layer.mountpoint);
    writeSynced(m('unnamed'), 'data synced, name not');
    writeSynced(m('sub', 'inner'), 'parent dir not synced');
    await powerCycle();
    expect(readdirSync(layer.mountpoint).sort()).toEqual(['named', 'sub']);
    expect(readdirSync(m('sub'))).toEqual([]);
    expect(readFileSync(m('named'), 'utf8')).toBe('both');
  });

  it('rename and unlink: durable only when the directory is fsynced', async () => {
    for (const name of ['r1', 'r2', 'u1', 'u2']) writeSynced(m(name), name);
    syncDir(layer.mountpoint);
    renameSync(m('r1'), m('r1-new'));
    unlinkSync(m('u1'));
    await powerCycle();
    expect(readdirSync(layer.mountpoint).sort()).toEqual(['r1', 'r2', 'u1', 'u2']);
    renameSync(m('r2'), m('r2-new'));
    unlinkSync(m('u2'));
    syncDir(layer.mountpoint);
    await powerCycle();
    expect(readdirSync(layer.mountpoint).sort()).toEqual(['r1', 'r2-new', 'u1']);
    expect(readFileSync(m('r2-new'), 'utf8')).toBe('r2'); // the renamed inode keeps its synced data
  });

  it('mkdir and rmdir: durable when the parent is fsynced; a new directory\'s own entries need its own fsync', async () => {
    mkdirSync(m('gone'));
    mkdirSync(m('kept'));
    syncDir(layer.mountpoint);
    rmdirSync(m('gone'));
    mkdirSync(m('lost'));
    syncDir(m('lost')); // its own fsync does not make its name durable
    mkdirSync(m('a', 'b', 'c'), { recursive: true });
    writeSynced(m('a', 'b', 'c', 'f'), 'deep');
    syncDir(m('a', 'b', 'c'));
    syncDir(m('a', 'b'));
    syncDir(m('a')); // every level but the root: nothing is reachable
    await powerCycle();
    expect(readdirSync(layer.mountpoint).sort()).toEqual(['gone', 'kept']);
    mkdirSync(m('a', 'b', 'c'), { recursive: true });
    writeSynced(m('a', 'b', 'c', 'f'), 'deep');
    for (const dir of [m('a', 'b', 'c'), m('a', 'b'), m('a'), layer.mountpoint]) syncDir(dir);
    rmdirSync(m('gone'));
    syncDir(layer.mountpoint);
    await powerCycle();
    expect(readdirSync(layer.mountpoint).sort()).toEqual(['a', 'kept']);
    expect(readFileSync(m('a', 'b', 'c', 'f'), 'utf8')).toBe('deep');
  });

  it('a directory renamed into another parent keeps its durable entries', async () => {
    mkdirSync(m('from'));
    mkdirSync(m('to'));
    mkdirSync(m('from', 'd'));
    writeSynced(m('from', 'd', 'f'), 'moved');
    syncDir(m('from', 'd'));
    syncDir(m('from'));
    syncDir(layer.mountpoint);
    renameSync(m('from', 'd'), m('to', 'd'));
    syncDir(m('to'));
    syncDir(m('from'));
    await powerCycle();
    expect(readdirSync(m('from'))).toEqual([]);
    expect(readFileSync(m('to', 'd', 'f'), 'utf8')).toBe('moved');
  });

  it('after a cut every operation fails with EIO until the remount', async () => {
    writeSynced(m('f'), 'x');
    syncDir(layer.mountpoint);
    const fd = openSync(m('f'), 'r+');
    await layer.cut();
    expect(errnoOf(() => writeSync(fd, 'y'))).toBe('EIO');
    expect(errnoOf(() => fsyncSync(fd))).toBe('EIO');
    expect(errnoOf(() => openSync(m('g'), 'w'))).toBe('EIO');
    expect(errnoOf(() => readdirSync(layer.mountpoint))).toBe('EIO');
    expect(errnoOf(() => mkdirSync(m('d')))).toBe('EIO');
    expect(errnoOf(() => syncDir(layer.mountpoint))).toBe('EIO');
    expect(errnoOf(() => closeSync(fd))).toBe('EIO'); // close's flush fails too; the descriptor is gone all the same
    await layer.unmount();
    await layer.mount();
    expect(readFileSync(m('f'), 'utf8')).toBe('x');
    writeSynced(m('g'), 'works again');
  });

  it('O_DIRECT opens and writes; its data is durable only after fsync, like any other', async () => {
    const block = Buffer.alloc(4096, 7);
    for (const name of ['synced', 'unsynced']) {
      const fd = openSync(m(name), constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o600);
      writeSync(fd, block, 0, block.length, 0);
      if (name === 'synced') fsyncSync(fd);
      closeSync(fd);
    }
    syncDir(layer.mountpoint);
    await powerCycle();
    expect(readFileSync(m('synced'))).toEqual(block);
    expect(statSync(m('unsynced')).size).toBe(0);
  });

  /**
   * Commits `n` one-row transactions under `synchronous` (then `unsynced` more with NORMAL, whose WAL frames a
   * torn or reordering cut may half keep; not OFF, whose unsynced checkpoints may corrupt the database on
   * power loss, as SQLite documents), cuts, remounts, checks integrity and counts the rows left.
   */
  const sqliteCommitsKept = async (synchronous: 'FULL' | 'NORMAL' | 'OFF', n: number, mode: 'clean' | 'torn' | 'reorder' = 'clean', unsynced = 0): Promise<number> => {
    const file = m(`wal-${synchronous}-${mode}.db`);
    const setup = new Database(file);
    setup.pragma('journal_mode = WAL');
    setup.pragma('synchronous = FULL');
    setup.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)'); // created durably, whatever is tested
    const db = setup;
    db.pragma(`synchronous = ${synchronous}`);
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    for (let i = 0; i < n; i++) insert.run(Buffer.alloc(100, i));
    db.pragma('synchronous = NORMAL');
    for (let i = 0; i < unsynced; i++) insert.run(Buffer.alloc(3000, i));
    expect(existsSync(`${file}-shm`)).toBe(true); // WAL index: a shared mmap through the page cache
    await layer.cut(mode, 7);
    try {
      db.close(); // its checkpoint fails with EIO now
    } catch { /* expected after the cut */ }
    await layer.unmount();
    await layer.mount();
    const after = new Database(file);
    try {
      expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
      return (after.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
    } finally {
      after.close();
    }
  };

  it('SQLite WAL: synchronous=FULL keeps all 1,000 commits across a cut; OFF keeps none', async () => {
    const full = await sqliteCommitsKept('FULL', 1000);
    const off = await sqliteCommitsKept('OFF', 1000);
    const normal = await sqliteCommitsKept('NORMAL', 1000);
    console.log(`power-loss layer: SQLite WAL commits kept of 1000: FULL ${full}, NORMAL ${normal}, OFF ${off}`);
    expect(full).toBe(1000);
    expect(off).toBe(0);
  }, 120_000);

  it('torn mode keeps a sector-aligned prefix of the last unsynced write of an open file', async () => {
    writeSynced(m('f'), '');
    syncDir(layer.mountpoint);
    const data = Buffer.alloc(256 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
    const fd = openSync(m('f'), 'r+');
    writeSync(fd, data, 0, data.length, 0);
    await layer.cut('torn', 3); // the file is open: its last write is the one in progress
    errnoOf(() => closeSync(fd));
    await layer.unmount();
    await layer.mount();
    const kept = readFileSync(m('f'));
    expect(kept.length % 512).toBe(0);
    expect(kept.length).toBeGreaterThan(0); // seed 3 keeps some: the mode does something
    expect(kept.length).toBeLessThan(data.length);
    expect(kept.equals(data.subarray(0, kept.length))).toBe(true);
  });

  it('reorder mode persists a random half of the unsynced chunks of an open file', async () => {
    writeSynced(m('f'), '');
    syncDir(layer.mountpoint);
    const chunk = 64 * 1024;
    const data = Buffer.alloc(16 * chunk, 0xab);
    const fd = openSync(m('f'), 'r+');
    writeSync(fd, data, 0, data.length, 0);
    await layer.cut('reorder', 5);
    errnoOf(() => closeSync(fd));
    await layer.unmount();
    await layer.mount();
    const kept = readFileSync(m('f'));
    expect(kept.length).toBe(data.length);
    const states = Array.from({ length: 16 }, (_, i) => {
      const c = kept.subarray(i * chunk, (i + 1) * chunk);
      return c.equals(data.subarray(0, chunk)) ? 'written' : c.equals(Buffer.alloc(chunk)) ? 'lost' : 'mixed';
    });
    expect(states).not.toContain('mixed');
    expect(states).toContain('written');
    expect(states).toContain('lost');
  });

  it('SQLite WAL: every synced commit survives torn and reordered unsynced writes, and the database stays intact', async () => {
    const kept: Record<string, number> = {};
    for (const mode of ['torn', 'reorder'] as const) {
      kept[mode] = await sqliteCommitsKept('FULL', 300, mode, 300);
      console.log(`power-loss layer: ${mode} cut: ${kept[mode]} rows kept (300 synced, 300 more committed with NORMAL)`);
      expect(Number.isInteger(kept[mode]), mode).toBe(true);
      expect(kept[mode], mode).toBeGreaterThanOrEqual(300);
    }
    // The ~600 unsynced WAL frames (about 2.4 MB, under the 1,000-frame autocheckpoint, so never synced) are one
    // sequential range: torn keeps a random 512-byte prefix of it, reorder a random half of its ~38 64 KiB chunks
    // (a missing chunk ends the WAL's checksum chain there). With cut seed 7 keeping all of it in both modes is
    // about 1 in 4,800 * 2^38: if nothing was lost, the modes did not act on the WAL and the check above proves nothing.
    expect(Math.min(kept['torn'] as number, kept['reorder'] as number), 'neither torn nor reorder lost an unsynced commit').toBeLessThan(600);
  }, 60_000);
});
