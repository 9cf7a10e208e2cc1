/**
 * The bench-only switches cannot be turned on by accident: alone they stop `serve`; with NODE_ENV=benchmark
 * the service says so loudly (an ALERT line, /readyz 503) while it runs without fsyncs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { s3Env, startTestS3 } from '../helpers/s3.js';
import { startServiceProcess } from '../helpers/service-process.js';

describe('benchmark mode', () => {
  it('refuses BENCH_UNSAFE_NO_FSYNC without NODE_ENV=benchmark, and announces it loudly with it', async () => {
    const s3 = await startTestS3();
    const spool = await mkdtemp(path.join(os.tmpdir(), 'spool-bench-mode-'));
    try {
      const env = { ...s3Env(s3), SPOOL_DIR: spool, BENCH_UNSAFE_NO_FSYNC: 'true' };
      await expect(startServiceProcess(env, 10_000)).rejects.toThrow(/BENCH_UNSAFE_NO_FSYNC is a benchmark-only switch, refused unless NODE_ENV=benchmark/);

      const svc = await startServiceProcess({ ...env, NODE_ENV: 'benchmark' });
      try {
        expect(svc.logs.join('')).toMatch(/"alert":"benchmark_mode".*ALERT benchmark switches are on/);
        const ready = await fetch(`${svc.baseUrl}/readyz`);
        expect(ready.status).toBe(503);
        expect(JSON.stringify(await ready.json())).toMatch(/BENCH_UNSAFE_NO_FSYNC: acknowledged images are not durable/);
        expect((await postImage(svc.baseUrl, 'cam-1', fakeJpeg(50_000))).status).toBe(202);
      } finally {
        svc.kill('SIGTERM');
        await svc.exited;
      }
    } finally {
      await rm(spool, { recursive: true, force: true });
      await s3.close();
    }
  }, 60_000);
});
