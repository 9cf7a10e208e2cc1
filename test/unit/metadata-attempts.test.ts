/**
 * The attempt record of migration 0016 (issue 18): an extraction is in the ledger before a thread parses the
 * image, so a start after a crash fails it instead of parsing it again, and a shutdown hands it back untried.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageLedger } from '../../src/ledger/images.js';
import { loadMigrations, migrate } from '../../src/ledger/migrate.js';
import { openLedger } from '../../src/ledger/open.js';
import { MetadataPool } from '../../src/meta/metadata-pool.js';
import { MetadataWorker, type MetadataFailureReason } from '../../src/meta/metadata-worker.js';
import { SpoolStore } from '../../src/spool/store.js';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { newImage, tempLedger, type TempLedger } from '../helpers/ledger.js';
import { heicZeroLengthBox } from '../helpers/poison-images.js';
import { waitFor } from '../helpers/in-process.js';

const silent = pino({ level: 'silent' });
const META = { width: 10, height: 20, camera_make: 'Acme', camera_model: 'X1', gps_lat: null, gps_lon: null, captured_at: null, captured_at_utc: null, orientation: null };

describe('metadata attempts in the ledger', () => {
  let t: TempLedger;
  let ledger: ImageLedger;
  beforeEach(() => {
    t = tempLedger('meta-attempts-');
    ledger = new ImageLedger(t.db);
  });
  afterEach(() => t.remove());

  const state = (id: string): unknown => t.db.prepare('SELECT metadata_state, metadata_at, metadata_error FROM images WHERE id = ?').get(id);

  it('records the attempt, the outcome, and fails only the attempts left unfinished', () => {
    ledger.insertMany(['A', 'B', 'C', 'D'].map((id) => newImage(id)));
    expect(state('A')).toEqual({ metadata_state: null, metadata_at: null, metadata_error: null });
    for (const id of ['A', 'B', 'C', 'D']) ledger.metadataStarted(id);
    expect(state('A')).toMatchObject({ metadata_state: 'extracting', metadata_at: null });
    ledger.setMetadata('A', META, new Date('2026-11-23T10:00:00Z'));
    ledger.metadataFailed('B', 'timeout: still parsing after 2000 ms', new Date('2026-11-23T10:00:01Z'));
    ledger.metadataReleased('C');
    expect(state('A')).toEqual({ metadata_state: 'done', metadata_at: '2026-11-23T10:00:00.000Z', metadata_error: null });
    expect(state('B')).toEqual({ metadata_state: 'failed', metadata_at: '2026-11-23T10:00:01.000Z', metadata_error: 'timeout: still parsing after 2000 ms' });
    expect(state('C')).toEqual({ metadata_state: null, metadata_at: null, metadata_error: null });
    // D is left `extracting`, as a crash leaves it.
    expect(ledger.failInterruptedMetadata('interrupted: ...', new Date('2026-11-23T10:00:02Z'))).toEqual(['D']);
    expect(state('D')).toEqual({ metadata_state: 'failed', metadata_at: '2026-11-23T10:00:02.000Z', metadata_error: 'interrupted: ...' });
    expect(ledger.metadataPending(10).map((r) => r.id)).toEqual(['C']);
    expect(ledger.failInterruptedMetadata('again', new Date())).toEqual([]);
  });

  it('finds unfinished attempts in the partial index of rows still to extract, not by scanning images', () => {
    const plan = (t.db.prepare(`EXPLAIN QUERY PLAN ${ledger.statements['metadataUnfinished'] as string}`).all() as Array<{ detail: string }>).map((p) => p.detail);
    expect(plan).toEqual([expect.stringMatching(/^SCAN images USING INDEX images_metadata_pending/)]);
  });

  it('leaves a ledger not yet migrated to 0016 readable (image-spool status beside an older service)', () => {
    const older = openLedger(path.join(t.dir, 'v15.db'));
    try {
      migrate(older, loadMigrations().filter((m) => m.version <= 15));
      expect(new ImageLedger(older).summary()).toMatchObject({ queued: 0 });
    } finally {
      older.close();
    }
  });
});

describe('MetadataWorker', () => {
  let t: TempLedger;
  let ledger: ImageLedger;
  let store: SpoolStore;
  beforeEach(() => {
    t = tempLedger('meta-worker-');
    ledger = new ImageLedger(t.db);
    store = new SpoolStore(t.dir, 50_000_000);
    mkdirSync(path.join(t.dir, 'images'));
  });
  afterEach(() => t.remove());

  function stored(id: string, bytes: Buffer, ext: string, contentType: string): void {
    const row = { ...newImage(id), path: `images/${id}.${ext}`, content_type: contentType };
    writeFileSync(store.absolutePath(row.path), bytes);
    ledger.insertMany([row]);
  }

  it('at start fails what the last run left extracting, never parsing it, and extracts what it never tried', async () => {
    stored('H', heicZeroLengthBox(), 'heic', 'image/heic');
    stored('J', exifJpeg({ model: 'Cam 9' }), 'jpg', 'image/jpeg');
    ledger.metadataStarted('H'); // the process died while a thread parsed it
    const failed: Array<[string, MetadataFailureReason]> = [];
    const worker = new MetadataWorker(ledger, store, silent, new MetadataPool({ log: silent, timeoutMs: 60_000 }));
    worker.on('metadata:failed', (id, reason) => failed.push([id, reason]));
    try {
      expect(worker.start()).toEqual({ interrupted: 1, pending: 1 });
      expect(failed).toEqual([['H', 'interrupted']]);
      await waitFor(() => (ledger.get('J')?.metadata_state === 'done' ? true : undefined), 10_000, 'J extracted');
      expect(ledger.get('J')).toMatchObject({ camera_model: 'Cam 9' });
      expect(ledger.get('H')).toMatchObject({ metadata_state: 'failed', metadata_error: expect.stringMatching(/^interrupted: /) });
      await waitFor(() => (worker.pending === 0 ? true : undefined), 10_000, 'an empty queue'); // H was never queued
    } finally {
      await worker.stop();
    }
  });

  it('a shutdown while a thread parses an image hands it back untried: not failed for the service stopping', async () => {
    stored('H', heicZeroLengthBox(), 'heic', 'image/heic');
    const worker = new MetadataWorker(ledger, store, silent, new MetadataPool({ log: silent, timeoutMs: 60_000 }));
    expect(worker.start()).toEqual({ interrupted: 0, pending: 1 });
    await waitFor(() => (ledger.get('H')?.metadata_state === 'extracting' ? true : undefined), 10_000, 'the attempt');
    await worker.stop();
    expect(ledger.get('H')).toMatchObject({ metadata_state: null, metadata_at: null });
    expect(ledger.metadataPending(10).map((r) => r.id)).toEqual(['H']);
  });

  it('when no thread can start, leaves every image untried for the next start and says so once', async () => {
    stored('A', exifJpeg({ model: 'Cam A' }), 'jpg', 'image/jpeg');
    stored('B', exifJpeg({ model: 'Cam B' }), 'jpg', 'image/jpeg');
    const lines: string[] = [];
    const log = pino({ level: 'error' }, new Writable({ write(chunk: Buffer, _enc, next) { lines.push(chunk.toString()); next(); } }));
    const worker = new MetadataWorker(ledger, store, log, new MetadataPool({ log, source: 'process.exit(3)' }));
    try {
      worker.start();
      await waitFor(() => (lines.some((l) => l.includes('metadata extraction stopped')) ? true : undefined), 10_000, 'the log line');
      expect(lines.filter((l) => l.includes('metadata extraction stopped'))).toHaveLength(1);
      expect(ledger.metadataPending(10).map((r) => r.id)).toEqual(['A', 'B']);
      expect(ledger.get('A')).toMatchObject({ metadata_state: null });
    } finally {
      await worker.stop();
    }
  });

  it('records a poison image failed once, with the reason', async () => {
    stored('H', heicZeroLengthBox(), 'heic', 'image/heic');
    const worker = new MetadataWorker(ledger, store, silent, new MetadataPool({ log: silent, timeoutMs: 200 }));
    const failed = new Promise<[string, MetadataFailureReason, string]>((resolve) => worker.once('metadata:failed', (...args) => resolve(args)));
    try {
      worker.start();
      expect(await failed).toEqual(['H', 'timeout', 'still parsing after 200 ms']);
      expect(ledger.get('H')).toMatchObject({ metadata_state: 'failed', metadata_error: 'timeout: still parsing after 200 ms', width: null });
      expect(ledger.metadataPending(10)).toEqual([]);
    } finally {
      await worker.stop();
    }
  });
});
