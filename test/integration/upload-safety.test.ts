import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, waitFor } from '../helpers/in-process.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

describe('uploader safety', () => {
  let s3: TestS3;
  beforeAll(async () => { s3 = await startTestS3(); });
  afterAll(async () => { await s3?.close(); });

  it('never uploads a spooled file whose bytes changed on disk: the image goes dead, S3 never sees it', async () => {
    // One upload slot, busy with a slow first image, so the second is verified only after we corrupt it.
    const svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '200KB', UPLOAD_CONCURRENCY: '1' });
    try {
      const first = await postImage(svc.baseUrl, 'cam-slow', fakeJpeg(300_000));
      const image = fakeJpeg(50_000);
      const { body } = await postImage(svc.baseUrl, 'cam-corrupt', image);
      const id = body['id'] as string;
      const row = svc.service.ledger.get(id);
      expect(row?.state).toBe('queued');
      const corrupted = Buffer.from(image);
      corrupted[30_000] = (corrupted[30_000] ?? 0) ^ 0xff; // one flipped byte (bit rot)
      await writeFile(path.join(svc.spoolDir, row?.path ?? ''), corrupted);
      const dead = await waitFor(() => (svc.service.ledger.get(id)?.state === 'dead' ? svc.service.ledger.get(id) : undefined), 15_000, 'dead state');
      expect(dead.last_error).toMatch(/spool_file_corrupt/);
      expect(dead.attempts).toBe(1);
      await waitFor(() => (svc.service.ledger.get(first.body['id'] as string)?.state === 'uploaded' ? true : undefined), 15_000, 'first upload');
      const keys = (await s3.listAll()).map((o) => o.Key);
      expect(keys).not.toContain(dead.s3_key);
      expect(keys).toHaveLength(1);
    } finally {
      await svc.close();
    }
  });

  it('aborts an upload whose server stops reading, keeps the image queued with the reason, and retries', async () => {
    // A black hole: accepts TCP connections and never answers nor reads.
    const sockets: net.Socket[] = [];
    const hole = net.createServer((socket) => { socket.pause(); sockets.push(socket); });
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const port = (hole.address() as net.AddressInfo).port;
    const svc = await startInProcess(s3, { S3_ENDPOINT: `http://127.0.0.1:${port}`, UPLOAD_STALL_TIMEOUT_MS: '400', RETRY_BASE_MS: '60000', UPLOAD_BWLIMIT: 'off' });
    try {
      const { body } = await postImage(svc.baseUrl, 'cam-stall', fakeJpeg(8_000_000));
      const id = body['id'] as string;
      const row = await waitFor(() => {
        const r = svc.service.ledger.get(id);
        return r?.state === 'queued' && r.last_error ? r : undefined;
      }, 10_000, 'stall detection');
      expect(row.last_error).toMatch(/upload_stalled|no upload progress/);
      expect(row.attempts).toBe(1);
    } finally {
      await svc.close();
      for (const s of sockets) s.destroy();
      hole.close();
    }
  });
});
