import http from 'node:http';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { startServiceProcess } from '../helpers/service-process.js';
import { waitFor } from '../helpers/in-process.js';

/** Starts a multipart upload and sends only its first half, leaving the request in flight. */
function halfSentUpload(port: number, image: Buffer) {
  const boundary = 'halfboundary';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ncam-slow\r\n--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/image', headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + image.length + tail.length } });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
  const half = Math.floor(image.length / 2);
  req.write(Buffer.concat([head, image.subarray(0, half)]));
  return { response, finish: () => req.end(Buffer.concat([image.subarray(half), tail])) };
}

describe('SIGTERM', () => {
  let s3: TestS3;
  let spoolDir: string;
  beforeAll(async () => {
    s3 = await startTestS3();
    spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-term-'));
  });
  afterAll(async () => {
    await s3?.close();
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('finishes in-flight ingests, refuses new connections, hands interrupted uploads back to the queue, exits 0', async () => {
    const svc = await startServiceProcess({ ...s3Env(s3), SPOOL_DIR: spoolDir, UPLOAD_BWLIMIT: '100KB', SHUTDOWN_GRACE_MS: '300', LOG_LEVEL: 'info' });
    // An upload in progress (2 MB at 100 KB/s: far from done when the signal comes).
    const big = await postImage(svc.baseUrl, 'cam-big', fakeJpeg(2_000_000));
    expect(big.status).toBe(202);
    // An ingest whose body is half sent when SIGTERM arrives.
    const slow = halfSentUpload(svc.port, fakeJpeg(500_000));
    // Its .part file proves the server is streaming it to disk: the ingest is truly in flight.
    await waitFor(async () => ((await readdir(path.join(spoolDir, 'images'))).some((f) => f.endsWith('.part')) ? true : undefined), 5000, 'a .part file');
    svc.kill('SIGTERM');
    await waitFor(() => (svc.logs.join('').includes('draining') ? true : undefined), 5000, 'drain log');
    slow.finish();
    const slowResult = await slow.response;
    expect(slowResult.status).toBe(202);
    await expect(postImage(svc.baseUrl, 'cam-late', fakeJpeg(1000))).rejects.toThrow(); // listener closed
    expect(await svc.exited).toBe(0);

    const db = new Database(path.join(spoolDir, 'ledger.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT id, device_id, state, attempts FROM images ORDER BY device_id').all() as Array<{ id: string; device_id: string; state: string; attempts: number }>;
      expect(rows.map((r) => [r.device_id, r.state])).toEqual([['cam-big', 'queued'], ['cam-slow', 'queued']]);
      // The interrupted upload was given back without spending an attempt.
      expect(rows[0]?.attempts).toBe(0);
      expect(rows.find((r) => r.device_id === 'cam-big')?.id).toBe(big.body['id']);
    } finally {
      db.close();
    }
    expect((await readdir(path.join(spoolDir, 'images'))).filter((f) => f.endsWith('.part'))).toEqual([]);
  });
});
