/**
 * The metadata threads (issue 18): the code a thread runs is built from the same functions extractMetadata
 * runs (here as vite transformed them; the service tests run tsc's output), and each image gets a time limit
 * and a heap limit, past which its thread is replaced and the image fails.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIF_OPTIONS, extractMetadata } from '../../src/meta/extract.js';
import { MetadataPool, THREAD_LIMITS, type Extraction } from '../../src/meta/metadata-pool.js';
import { exifJpeg, pngWithSize } from '../helpers/exif-jpeg.js';
import { gifZeroDimensions, heicZeroLengthBox, pngHugeDimensions, tiffTagBomb } from '../helpers/poison-images.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'meta-pool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): { path: string; fd: null } {
  const at = path.join(dir, name);
  writeFileSync(at, bytes);
  return { path: at, fd: null };
}

const silent = pino({ level: 'silent' });
const NORMAL = file('normal.jpg', exifJpeg({
  make: 'Acme', model: 'Cam 3000', orientation: 6, dateTimeOriginal: '2026:11:23 10:20:30', offsetTimeOriginal: '+02:00',
  latitude: 52.5201, longitude: -13.4049, width: 1920, height: 1080,
}));
const HEIC = file('poison.heic', heicZeroLengthBox());

async function expectNormal(pool: MetadataPool): Promise<void> {
  expect(await pool.extract(NORMAL, 'jpeg', () => undefined)).toEqual({ outcome: 'done', metadata: await extractMetadata(NORMAL.path, 'jpeg') });
}

describe('MetadataPool', () => {
  it('parses on a thread exactly what extractMetadata reads on the calling thread', async () => {
    const pool = new MetadataPool({ log: silent });
    try {
      const done = await pool.extract(NORMAL, 'jpeg', () => undefined);
      expect(done).toEqual({ outcome: 'done', metadata: expect.objectContaining({ camera_model: 'Cam 3000', width: 1920, gps_lat: 52.5201, captured_at_utc: '2026-11-23T08:20:30.000Z' }) });
      await expectNormal(pool);
      // Sizes no image has are unknown, not those numbers; real ones stay.
      for (const [name, bytes, format] of [['huge.png', pngHugeDimensions(), 'png'], ['zero.gif', gifZeroDimensions(), 'gif']] as const) {
        expect(await pool.extract(file(name, bytes), format, () => undefined)).toMatchObject({ outcome: 'done', metadata: { width: null, height: null } });
      }
      expect(await pool.extract(file('ok.png', pngWithSize(300, 200)), 'png', () => undefined)).toMatchObject({ outcome: 'done', metadata: { width: 300, height: 200 } });
      expect(await pool.extract({ path: path.join(dir, 'gone.jpg'), fd: null }, 'jpeg', () => undefined)).toMatchObject({ outcome: 'unreadable', message: expect.stringMatching(/ENOENT/) });
    } finally {
      await pool.close();
    }
  });

  it('fails the 96-byte HEIC at its time limit, replaces the looping thread and parses the next image', async () => {
    const pool = new MetadataPool({ log: silent, timeoutMs: 300 });
    try {
      const started = Date.now();
      expect(await pool.extract(HEIC, 'heic', () => undefined)).toEqual({ outcome: 'failed', reason: 'timeout', message: 'still parsing after 300 ms' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      await expectNormal(pool);
    } finally {
      await pool.close();
    }
  });

  it('ends a thread whose parse outgrows its heap (a tag bomb read without the tag filter) and goes on', async () => {
    // Every tag decoded: 10,000 strings of 100,000 characters. With the filter none of them is.
    const unfiltered = { tiff: true, exif: true, gps: true, ifd1: false, xmp: false, icc: false, iptc: false, jfif: false, ihdr: false, translateValues: false, reviveValues: false, mergeOutput: true };
    const pool = new MetadataPool({ log: silent, timeoutMs: 30_000, exifOptions: unfiltered });
    const bomb = file('bomb.tiff', tiffTagBomb());
    try {
      expect(await pool.extract(bomb, 'tiff', () => undefined)).toEqual({ outcome: 'failed', reason: 'memory', message: `over the thread's ${THREAD_LIMITS.maxOldGenerationSizeMb} MB heap limit` });
      expect(await pool.extract(NORMAL, 'jpeg', () => undefined)).toMatchObject({ outcome: 'done', metadata: { camera_model: 'Cam 3000' } });
    } finally {
      await pool.close();
    }
    const filtered = new MetadataPool({ log: silent });
    try {
      expect(await filtered.extract(bomb, 'tiff', () => undefined)).toMatchObject({ outcome: 'done', metadata: { camera_make: null } });
    } finally {
      await filtered.close();
    }
  });

  it('calls onStart before the bytes reach a thread, and parses nothing when it throws', async () => {
    const pool = new MetadataPool({ log: silent, timeoutMs: 60_000 });
    try {
      const order: string[] = [];
      const done = pool.extract(NORMAL, 'jpeg', () => order.push('started')).then((r) => order.push(r.outcome));
      await done;
      expect(order).toEqual(['started', 'done']);
      // Were the HEIC parsed, this would take the minute of its time limit.
      expect(await pool.extract(HEIC, 'heic', () => { throw new Error('database is locked'); }))
        .toEqual({ outcome: 'not_started', cause: 'start', message: 'database is locked' });
      await expectNormal(pool);
    } finally {
      await pool.close();
    }
  });

  it('close() interrupts the image being parsed and refuses the queued and the later ones', async () => {
    const pool = new MetadataPool({ log: silent, timeoutMs: 60_000 });
    let started = 0;
    const parsing = pool.extract(HEIC, 'heic', () => { started++; });
    const queued = pool.extract(NORMAL, 'jpeg', () => { started++; });
    while (started === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await pool.close();
    expect(await parsing).toEqual({ outcome: 'interrupted' });
    expect(await queued).toEqual({ outcome: 'not_started', cause: 'pool', message: 'metadata pool closed' });
    expect(started).toBe(1);
    expect(await pool.extract(NORMAL, 'jpeg', () => undefined)).toMatchObject({ outcome: 'not_started', cause: 'pool' });
  });

  it('gives up starting threads that die before they are ready, and says so once', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'error' }, new Writable({ write(chunk: Buffer, _enc, next) { lines.push(chunk.toString()); next(); } }));
    const pool = new MetadataPool({ log, source: 'throw new Error("cannot load exifr")' });
    const results: Extraction[] = await Promise.all([pool.extract(NORMAL, 'jpeg', () => undefined), pool.extract(NORMAL, 'jpeg', () => undefined)]);
    expect(results).toEqual([
      { outcome: 'not_started', cause: 'pool', message: 'metadata threads cannot start' },
      { outcome: 'not_started', cause: 'pool', message: 'metadata threads cannot start' },
    ]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/metadata threads cannot start.*cannot load exifr|cannot load exifr.*metadata threads cannot start/);
    await pool.close();
  });

  it('refuses options it cannot work with', () => {
    expect(() => new MetadataPool({ log: silent, threads: 0 })).toThrow(/expected threads to be an integer 1-16, got 0/);
    expect(() => new MetadataPool({ log: silent, timeoutMs: 0 })).toThrow(/expected timeoutMs to be > 0, got 0/);
    expect(EXIF_OPTIONS.pick).toContain('Model');
  });
});
