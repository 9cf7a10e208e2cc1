/**
 * The spool's O_DIRECT write path (src/spool/direct-sink.ts) on a real filesystem: every byte and the
 * SHA-256 exact for sizes around the 4 KiB alignment and the 1 MiB block, the file really opened with
 * O_DIRECT (its flags as the kernel reports them), chunks freed once copied, and the fallbacks:
 * SPOOL_DIRECT_IO=off, a filesystem that refuses O_DIRECT, and a short write (a full disk).
 */
import { createHash } from 'node:crypto';
import { constants, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IoThread } from '../../src/background/io-thread.js';
import { canReleaseChunks } from '../../src/spool/release-chunk.js';
import { STAGING_BLOCK_BYTES, StagingPool } from '../../src/spool/staging.js';
import { PAGE_CACHE_BELOW_BYTES, SpoolStore, type SpoolFileOps } from '../../src/spool/store.js';
import { fakeJpeg } from '../helpers/images.js';


const O_DIRECT = (constants as { O_DIRECT?: number }).O_DIRECT as number;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'spool-direct-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The body in chunks of pseudo-random sizes (1 byte to 100 kB), as a socket delivers them: each a copy, since
 * the sink owns (and may free) the chunks it is given.
 */
async function* chunks(body: Buffer, seed: number): AsyncGenerator<Buffer> {
  let s = seed;
  for (let at = 0; at < body.length;) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (s % 100_000);
    yield Buffer.from(body.subarray(at, at + n));
    at += n;
  }
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The open-file flags the kernel reports for the descriptor that has `file` open in this process. */
function openFlags(file: string): number | null {
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== file) continue;
    const match = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return match ? parseInt(match[1] as string, 8) : null;
  }
  return null;
}

/** A source that sends `head`, then waits for `go()` before sending `tail`: the file is open meanwhile. */
function pausedSource(head: Buffer, tail: Buffer): { source: AsyncIterable<Buffer>; go: () => void } {
  let go = (): void => undefined;
  const gate = new Promise<void>((resolve) => { go = resolve; });
  async function* source(): AsyncGenerator<Buffer> {
    yield head;
    await gate;
    yield tail;
  }
  return { source: source(), go };
}

async function storeWith(options: { staging: StagingPool | null; hasher?: IoThread }, fileOps?: SpoolFileOps): Promise<SpoolStore> {
  const store = new SpoolStore(dir, 50_000_000, { staging: options.staging, hasher: options.hasher });
  if (fileOps) store.fileOps = fileOps;
  await store.init();
  return store;
}

describe('SpoolStore: O_DIRECT writes', () => {
  it('stores bodies of every size around the alignment and the block exactly, with their SHA-256, hashed on the I/O thread', async () => {
    const staging = new StagingPool(4);
    const io = new IoThread(pino({ level: 'silent' }), { staging });
    try {
      const store = await storeWith({ staging, hasher: io });
      expect(store.writeMode).toEqual({ direct: true });
      const block = STAGING_BLOCK_BYTES;
      const sizes = [16, 100, 4095, 4096, 4097, 262_143, 262_144, 262_145, block - 1, block, block + 1, 3 * block + 5, 4_000_123];
      // All at once, so more files than blocks are in flight: blocks are shared, never mixed up.
      const bodies = sizes.map((n) => fakeJpeg(n));
      const files = await Promise.all(bodies.map((body, i) => store.receive(`img-${i}`, chunks(body, i + 1))));
      for (const [i, file] of files.entries()) {
        const body = bodies[i] as Buffer;
        expect({ bytes: file.bytes, sha256: file.sha256 }).toEqual({ bytes: body.length, sha256: sha256(body) });
        const stored = await store.commit(file);
        expect(readFileSync(store.absolutePath(stored)).equals(body)).toBe(true);
      }
      expect(readdirSync(store.imagesDir).filter((f) => f.endsWith('.part'))).toEqual([]);
      expect(staging.blocks).toBeLessThanOrEqual(4);
    } finally {
      await io.close();
    }
  });

  it('frees each chunk that is the whole of its memory once it is in a block, and leaves slices of shared memory alone', async () => {
    expect(canReleaseChunks).toBe(true); // Node 20 through its staged flag, Node 22 natively
    const staging = new StagingPool(2);
    const store = await storeWith({ staging });
    const body = fakeJpeg(2 * STAGING_BLOCK_BYTES + 300_000);
    const shared = Buffer.from(body.subarray(0, 500_000)); // one buffer, handed over as two slices
    const own = [Buffer.from(body.subarray(500_000, 1_700_000)), Buffer.from(body.subarray(1_700_000))];
    const given = [shared.subarray(0, 200_000), shared.subarray(200_000), ...own];
    async function* source(): AsyncGenerator<Buffer> {
      yield* given;
    }
    const file = await store.receive('release', source());
    expect(file.sha256).toBe(sha256(body));
    expect(readFileSync(file.tmpPath).equals(body)).toBe(true);
    // The own chunks are detached: their memory went back at once, not at the next garbage collection.
    expect(own.map((c) => [c.length, c.buffer.byteLength])).toEqual([[0, 0], [0, 0]]);
    expect(shared.equals(body.subarray(0, 500_000))).toBe(true);
  });

  it('opens each image file with O_DIRECT; without it when SPOOL_DIRECT_IO=off or the body is declared under 256 KiB', async () => {
    const cases = [
      { name: 'direct', staging: new StagingPool(2), hint: undefined, direct: true },
      { name: 'declared-large', staging: new StagingPool(2), hint: PAGE_CACHE_BELOW_BYTES, direct: true },
      { name: 'declared-small', staging: new StagingPool(2), hint: PAGE_CACHE_BELOW_BYTES - 1, direct: false },
      { name: 'off', staging: null, hint: undefined, direct: false },
    ];
    for (const { name, staging, hint, direct } of cases) {
      const store = await storeWith({ staging });
      const body = fakeJpeg(600_000);
      const { source, go } = pausedSource(body.subarray(0, 300_000), body.subarray(300_000));
      const receiving = store.receive(`open-${name}`, source, hint);
      const part = path.join(store.imagesDir, `open-${name}.part`);
      let flags: number | null = null;
      for (let i = 0; i < 100 && flags === null; i++) {
        await new Promise((r) => setTimeout(r, 10));
        flags = openFlags(part);
      }
      expect(flags).not.toBeNull();
      expect(((flags as number) & O_DIRECT) !== 0, name).toBe(direct);
      go();
      const file = await receiving;
      expect(file.sha256).toBe(sha256(body));
      expect(readFileSync(file.tmpPath).equals(body)).toBe(true);
      expect(store.writeMode.direct).toBe(staging !== null);
    }
  });

  it('falls back to the page cache, saying why, where the filesystem refuses O_DIRECT', async () => {
    const refuseDirect: SpoolFileOps = {
      open: (file, flags, mode) => (typeof flags === 'number' && (flags & O_DIRECT) !== 0
        ? Promise.reject(Object.assign(new Error('EINVAL: invalid argument, open'), { code: 'EINVAL' }))
        : open(file, flags, mode)),
    };
    const store = await storeWith({ staging: new StagingPool(2) }, refuseDirect);
    expect(store.writeMode).toEqual({ direct: false, reason: expect.stringContaining('EINVAL') });
    const body = fakeJpeg(700_000);
    const file = await store.receive('fallback', chunks(body, 7));
    expect(file.sha256).toBe(sha256(body));
    expect(readFileSync(file.tmpPath).equals(body)).toBe(true);
  });

  it('refuses a short O_DIRECT write as a full disk and leaves no file', async () => {
    const shortWrites: SpoolFileOps = {
      open: async (file, flags, mode) => {
        const handle = await open(file, flags, mode);
        if (file.endsWith('probe.part')) return handle;
        const write = handle.write.bind(handle) as (b: Buffer, o: number, l: number, p: number) => Promise<{ bytesWritten: number }>;
        // The disk takes all but the last 4 KiB of every block.
        handle.write = (async (b: Buffer, o: number, l: number, p: number) => write(b, o, Math.max(0, l - 4096), p)) as FileHandle['write'];
        return handle;
      },
    };
    const store = await storeWith({ staging: new StagingPool(2) }, shortWrites);
    expect(store.writeMode.direct).toBe(true);
    await expect(store.receive('short', chunks(fakeJpeg(1_000_000), 3))).rejects.toMatchObject({ code: 'disk_full' });
    expect(readdirSync(store.imagesDir)).toEqual([]);
  });
});
