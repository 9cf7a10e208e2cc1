import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IoThread } from '../../src/background/io-thread.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import { digestInline } from '../../src/spool/file-hasher.js';
import { StagingPool, type StagingBlock } from '../../src/spool/staging.js';
import { waitFor } from '../helpers/in-process.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'io-thread-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): { path: string; sha256: string } {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return { path: p, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** A logger whose lines (warn and above) the test can read. */
function recordingLog(): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void raw.push(line) });
  return { log, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('IoThread: file hashes', () => {
  it('hashes files exactly as their bytes hash, many at once, larger than its read buffer', async () => {
    const io = new IoThread(recordingLog().log);
    try {
      const files = [0, 1, 65_537, 1 << 20, 3_000_001].map((n, i) => ({ n, ...file(`f${i}`, randomBytes(n)) }));
      const got = await Promise.all(files.map((f) => io.digest(f.path)));
      expect(got).toEqual(files.map((f) => ({ sha256: f.sha256, bytes: f.n })));
      await expect(digestInline(files[4]!.path)).resolves.toEqual(got[4]);
    } finally {
      await io.close();
    }
  });

  it('gives the MD5 of the same read when asked (the Content-MD5 of a single-request upload), on the thread and inline', async () => {
    const io = new IoThread(recordingLog().log);
    try {
      const bytes = randomBytes(3_000_001);
      const f = file('m', bytes);
      const expected = { sha256: f.sha256, bytes: bytes.length, md5: createHash('md5').update(bytes).digest('base64') };
      await expect(io.digest(f.path, { md5: true })).resolves.toEqual(expected);
      await expect(digestInline(f.path, { md5: true })).resolves.toEqual(expected);
      // Not asked, not computed: ingest's digests stay SHA-256 only.
      await expect(io.digest(f.path)).resolves.toEqual({ sha256: f.sha256, bytes: bytes.length });
    } finally {
      await io.close();
    }
  });

  it('reports a missing file with its errno code', async () => {
    const io = new IoThread(recordingLog().log);
    try {
      await expect(io.digest(path.join(dir, 'absent'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await io.close();
    }
  });

  it('when the thread dies, hashes the unanswered and all later files on the calling thread, and says so once', async () => {
    const { log, lines } = recordingLog();
    // A thread that takes its first job and exits without answering.
    const dying = `require('node:worker_threads').parentPort.on('message', () => process.exit(3));`;
    const io = new IoThread(log, { source: dying });
    try {
      const a = file('a', randomBytes(200_000));
      const b = file('b', randomBytes(10));
      await expect(io.digest(a.path)).resolves.toEqual({ sha256: a.sha256, bytes: 200_000 });
      await expect(io.digest(b.path)).resolves.toEqual({ sha256: b.sha256, bytes: 10 });
      expect(lines()).toEqual([expect.objectContaining({ reason: 'exited with code 3' })]);
    } finally {
      await io.close();
    }
  });
});

describe('IoThread: hash sessions over the staging pool', () => {
  /** Feeds `body` through `session` in pool blocks, as the O_DIRECT sink does; resolves to the hex digest. */
  async function hashThrough(pool: StagingPool, session: ReturnType<IoThread['session']>, body: Buffer, step: number): Promise<string> {
    for (let at = 0; at < body.length; at += step) {
      const part = body.subarray(at, at + step);
      const block: StagingBlock = await pool.acquire();
      block.buf.fill(part, 0, part.length);
      await session.update(block, part.length);
      pool.release(block); // reused at once by another session: the thread must be done with it
    }
    return session.finish();
  }

  it('hashes blocks in place, many sessions interleaved over few blocks', async () => {
    const pool = new StagingPool(2);
    const io = new IoThread(recordingLog().log, { staging: pool });
    try {
      const bodies = [1, 4096, 300_000, 1_000_003].map((n) => randomBytes(n));
      const got = await Promise.all(bodies.map((b, i) => hashThrough(pool, io.session(path.join(dir, `s${i}`)), b, 65_536 + i * 1000)));
      expect(got).toEqual(bodies.map((b) => createHash('sha256').update(b).digest('hex')));
    } finally {
      await io.close();
    }
  });

  it('when the thread dies mid-file, finishes the session by reading the file back, and later sessions hash inline', async () => {
    const { log, lines } = recordingLog();
    // A thread that takes its first job and exits without answering.
    const dying = `require('node:worker_threads').parentPort.on('message', () => process.exit(4));`;
    const pool = new StagingPool(2);
    const io = new IoThread(log, { staging: pool, source: dying });
    try {
      const onDisk = file('on-disk', randomBytes(500_000));
      // The blocks fed are not the file's bytes: only a read-back of the file can give its hash.
      await expect(hashThrough(pool, io.session(onDisk.path), randomBytes(200_000), 100_000)).resolves.toBe(onDisk.sha256);
      const later = randomBytes(70_000);
      await expect(hashThrough(pool, io.session(path.join(dir, 'unused')), later, 30_000)).resolves.toBe(createHash('sha256').update(later).digest('hex'));
      expect(lines()).toEqual([expect.objectContaining({ reason: 'exited with code 4' })]);
    } finally {
      await io.close();
    }
  });
});

describe('IoThread: WAL checkpoints', () => {
  let file_: string;
  let db: Db;
  beforeEach(() => {
    file_ = path.join(dir, 'ledger.db');
    db = openLedger(file_);
    db.exec('CREATE TABLE t (x TEXT)');
  });
  afterEach(() => db.close());

  it('copies the WAL into the database while the service connection never checkpoints itself, and hashes meanwhile', async () => {
    const io = new IoThread(recordingLog().log, { checkpoint: { db, file: file_, intervalMs: 20 } });
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = statSync(file_).size;
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    db.transaction(() => { for (let i = 0; i < 20_000; i++) insert.run('x'.repeat(200)); })(); // ~1000 pages
    // Only the other thread can have moved these pages into the database file.
    await waitFor(() => (statSync(file_).size > before + 2_000_000 ? true : undefined), 10_000, 'a background checkpoint');
    const f = file('img', randomBytes(5_000));
    await expect(io.digest(f.path)).resolves.toEqual({ sha256: f.sha256, bytes: 5_000 });
    await io.close();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it('gives checkpoints back to the service connection, loudly, when the ledger cannot be opened there; hashing stays on the thread', async () => {
    const { log, lines } = recordingLog();
    const io = new IoThread(log, { checkpoint: { db, file: path.join(dir, 'missing', 'ledger.db'), intervalMs: 20 } });
    try {
      await waitFor(() => (db.pragma('wal_autocheckpoint', { simple: true }) === 1000 ? true : undefined), 10_000, 'the fallback');
      expect(lines().map((l) => l['msg'])).toEqual(['background WAL checkpoints could not start; checkpointing on the service thread']);
      const f = file('img', randomBytes(5_000));
      await expect(io.digest(f.path)).resolves.toEqual({ sha256: f.sha256, bytes: 5_000 });
      expect(lines()).toHaveLength(1); // the thread itself did not fail
    } finally {
      await io.close();
    }
  });

  it('gives checkpoints back when the whole thread fails', async () => {
    const { log, lines } = recordingLog();
    const io = new IoThread(log, { checkpoint: { db, file: file_ }, source: `throw new Error('broken thread')` });
    try {
      await waitFor(() => (db.pragma('wal_autocheckpoint', { simple: true }) === 1000 ? true : undefined), 10_000, 'the fallback');
      expect(lines()).toEqual([expect.objectContaining({ reason: 'broken thread' })]);
    } finally {
      await io.close();
    }
  });
});
