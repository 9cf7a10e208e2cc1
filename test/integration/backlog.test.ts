import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { useInProcessService } from '../helpers/in-process.js';
import { CLI } from '../helpers/service-process.js';

describe('backlog and drain estimate', () => {
  // 10 KB/s: nothing meaningful uploads during the test, so the backlog is what we sent.
  const ctx = useInProcessService({ UPLOAD_BWLIMIT: '10KB' });

  it('GET /images and `image-spool status --json` report backlog bytes and queued bytes / current rate', async () => {
    const { svc } = ctx;
    for (let i = 0; i < 3; i++) expect((await postImage(svc.baseUrl, `cam-${i}`, fakeJpeg(200_000))).status).toBe(202);
    const api = (await (await fetch(`${svc.baseUrl}/images`)).json()) as Record<string, number | null>;
    expect(api['queued']! + api['uploading']!).toBe(3);
    expect(api['backlog_bytes']).toBe(600_000);
    expect(api['rate_bytes_per_sec']).toBe(10_000);
    expect(api['drain_eta_seconds']).toBe(60);

    // PORT=9 (nothing listens): the CLI reads the ledger, as for a stopped service (a synchronous child is safe then).
    const env = { PATH: process.env['PATH'] ?? '', SPOOL_DIR: svc.spoolDir, UPLOAD_BWLIMIT: '10KB', PORT: '9' };
    const out = execFileSync(process.execPath, [CLI, 'status', '--json'], { env });
    const cli = JSON.parse(out.toString()) as { backlog: { bytes: number }; cap: { rate_bytes_per_sec: number }; drain_eta_seconds: number };
    expect(cli).toMatchObject({ backlog: { bytes: 600_000 }, cap: { rate_bytes_per_sec: 10_000 }, drain_eta_seconds: 60 });

    // An operator override changes the estimate, and the CLI reads it from the ledger.
    svc.service.bandwidth.setOverride('100KB');
    const after = JSON.parse(execFileSync(process.execPath, [CLI, 'status', '--json'], { env }).toString()) as typeof cli;
    expect(after.cap.rate_bytes_per_sec).toBe(100_000);
    expect(after.drain_eta_seconds).toBeLessThanOrEqual(6);
  });
});
