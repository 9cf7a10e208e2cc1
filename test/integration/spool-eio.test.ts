/**
 * An I/O error on the write path (EIO from write or fsync) must never be acknowledged, must leave no row
 * and no file, and marks the spool degraded: ingest answers 503 until a restart, as ../shared/DURABILITY.md
 * explains (after a failed fsync Linux may have dropped the pages and report success next time). No faulty
 * disk exists on these machines (no device-mapper), so the EIO is injected at the spool's file-open seam.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startService } from '../../src/main.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess } from '../helpers/in-process.js';
import { s3Env, startTestS3 } from '../helpers/s3.js';

const eio = (): Error => Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO', errno: -5 });

/** Opens real files whose fsync (or write) fails with EIO. */
function faultyOpen(fail: 'sync' | 'write') {
  return async (path: string, flags: string, mode: number): Promise<FileHandle> => {
    const handle = await open(path, flags, mode);
    if (fail === 'sync') handle.sync = () => Promise.reject(eio());
    else handle.write = (() => Promise.reject(eio())) as FileHandle['write'];
    return handle;
  };
}

describe('EIO on the spool', () => {
  for (const fail of ['sync', 'write'] as const) {
    it(`EIO from ${fail}: 503, no ack, no row, no file; degraded until restart, then fine`, async () => {
      const s3 = await startTestS3();
      const svc = await startInProcess(s3, { SPOOL_MIN_FREE_BYTES: '0', UPLOAD_BWLIMIT: '50MB' });
      try {
        const good = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(50_000));
        expect(good.status).toBe(202);
        svc.service.store.fileOps = { open: faultyOpen(fail) };
        const bad = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(50_000));
        expect(bad).toMatchObject({ status: 503, body: { error: { code: 'spool_degraded' } } });
        // The fault is gone, but the spool stays degraded: a later fsync "success" could be a lie.
        svc.service.store.fileOps = { open };
        const after = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(50_000));
        expect(after).toMatchObject({ status: 503, body: { error: { code: 'spool_degraded' } } });
        const ready = await fetch(`${svc.baseUrl}/readyz`);
        expect(ready.status).toBe(503);
        expect(await ready.json()).toMatchObject({ checks: { spool: { ok: false, message: expect.stringMatching(/degraded/) } } });
        const rows = svc.service.ledger.summary();
        expect(rows.queued + rows.uploading + rows.uploaded).toBe(1);
        expect((await svc.files()).filter((f) => f.endsWith('.part'))).toEqual([]);

        // A restart on the same spool clears it (and recovery checks what is there).
        await svc.service.stop();
        const restarted = await startService(loadConfig({ ...s3Env(s3), HOST: '127.0.0.1', PORT: '0', SPOOL_DIR: svc.spoolDir, SPOOL_MIN_FREE_BYTES: '0' }), pino({ level: 'silent' }));
        try {
          expect((await postImage(`http://127.0.0.1:${restarted.port}`, 'cam-1', fakeJpeg(50_000))).status).toBe(202);
        } finally {
          await restarted.stop();
        }
      } finally {
        await rm(svc.spoolDir, { recursive: true, force: true });
        await s3.close();
      }
    }, 30_000);
  }
});
