/**
 * GET /images/{id} while the uploader deletes the local copy. The uploader deletes a file right after its
 * upload; a GET that checked the file and then opened it by path could find it gone after the 200 was on its
 * way, and the client got a response cut short ("TypeError: terminated" in read-links.test.ts under load).
 * These pin the two halves: an opened file is read whole even when deleted under the response, and a file
 * deleted before it is opened is served from S3 once the row, read again, says it was uploaded.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpoolError } from '../../src/errors.js';
import type { AppEnv } from '../../src/http/env.js';
import { retrieveHandler, type ObjectReader } from '../../src/http/retrieve.js';
import type { ImageLedger } from '../../src/ledger/images.js';
import type { ImageRow, Resolved } from '../../src/ledger/types.js';
import type { SpoolStore } from '../../src/spool/store.js';

const bytes = Buffer.alloc(3 * 1024 * 1024, 7);

describe('GET /images/{id} while the uploader deletes the local file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'retrieve-race-'));
    await writeFile(path.join(dir, 'img'), bytes);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  /** A ledger whose row goes through `states`, one per read (the last one stays). */
  function app(states: Array<ImageRow['state']>, readObject: ObjectReader): { app: Hono<AppEnv>; reads: () => number } {
    let reads = 0;
    const row = (): Resolved => {
      const state = states[Math.min(reads++, states.length - 1)] as ImageRow['state'];
      const blob = { id: 'img1', sha256: 'a'.repeat(64), bytes: bytes.length, content_type: 'image/jpeg', path: 'img', s3_key: 'k/img1', state } as ImageRow;
      return { row: blob, blob };
    };
    const ledger = { resolve: row } as unknown as ImageLedger;
    const store = { absolutePath: (rel: string) => path.join(dir, rel) } as unknown as SpoolStore;
    const a = new Hono<AppEnv>();
    a.get('/images/:id', retrieveHandler({ ledger, store, readObject }));
    a.onError((err) => Response.json({ code: err instanceof SpoolError ? err.code : 'internal' }, { status: err instanceof SpoolError ? err.status : 500 }));
    return { app: a, reads: () => reads };
  }

  it('reads the whole file when it is deleted after the answer began', async () => {
    const { app: a } = app(['queued'], () => Promise.reject(new Error('S3 must not be asked')));
    const res = await a.request('/images/img1');
    expect(res.status).toBe(200);
    await unlink(path.join(dir, 'img')); // the upload finished and the uploader deleted its file
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('serves S3 when the file went before it was opened and the row, read again, says uploaded', async () => {
    await unlink(path.join(dir, 'img'));
    const asked: string[] = [];
    const { app: a, reads } = app(['queued', 'uploaded'], (key) => {
      asked.push(key);
      return Promise.resolve(Readable.from([bytes]));
    });
    const res = await a.request('/images/img1');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    expect(asked).toEqual(['k/img1']);
    expect(reads()).toBe(2);
  });

  it('answers HEAD with the headers and opens neither the file nor S3 (Hono drops a HEAD body unread)', async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const { app: a } = app(['queued'], () => Promise.reject(new Error('S3 must not be asked')));
    const before = fds();
    for (let i = 0; i < 20; i++) {
      const res = await a.request('/images/img1', { method: 'HEAD' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBe(String(bytes.length));
      expect(res.body).toBeNull();
    }
    expect(fds() - before).toBeLessThan(5); // one descriptor per HEAD before the fix: +20
  });

  it('answers 404 not_found when the file is gone and the row is still not uploaded', async () => {
    await unlink(path.join(dir, 'img'));
    const { app: a } = app(['queued'], () => Promise.reject(new Error('S3 must not be asked')));
    const res = await a.request('/images/img1');
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('not_found');
  });
});
