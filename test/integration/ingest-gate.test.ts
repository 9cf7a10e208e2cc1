/**
 * INGEST_READ_SLOTS: request bodies read at once are bounded (the rest wait unread), yet a slow sender cannot
 * keep a fast one waiting: it gives up its slot within a check interval and still completes.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, waitFor } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

async function inFlight(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(/^image_spool_ingests_in_flight (\S+)/m.exec(text)?.[1] ?? NaN);
}

describe('ingest read slots', () => {
  it('a trickling body gives up the only slot: a fast device behind it is answered first', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { INGEST_READ_SLOTS: '1', UPLOAD_BWLIMIT: '1KB' });
    const socket = net.connect(Number(new URL(svc.baseUrl).port), '127.0.0.1');
    const timer = setInterval(() => socket.write(Buffer.alloc(20, 7)), 100);
    try {
      const boundary = 'slowboundary';
      const image = fakeJpeg(4_000);
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\nslow-cam\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
      const tail = `\r\n--${boundary}--\r\n`;
      // The body is the head, the image, then 20 bytes every 100 ms until the test sends the rest.
      let answer = '';
      socket.on('data', (c: Buffer) => { answer += c.toString('latin1'); });
      socket.write(`POST /image HTTP/1.1\r\nHost: gw\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
        `Content-Length: ${Buffer.byteLength(head) + image.length + 4000 + Buffer.byteLength(tail)}\r\n\r\n${head}`);
      socket.write(image);
      let sent = 0;
      const origWrite = socket.write.bind(socket);
      socket.write = ((chunk: Buffer) => { sent += chunk.length; return origWrite(chunk); }) as typeof socket.write;
      await waitFor(async () => ((await inFlight(svc.baseUrl)) === 1 ? true : undefined), 5_000, 'the slow upload to be admitted');

      const started = Date.now();
      const fast = await postImage(svc.baseUrl, 'fast-cam', fakeJpeg(200_000));
      expect(fast.status).toBe(202);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(answer).toBe(''); // the slow one is still sending
      expect(sent).toBeLessThan(4000);

      clearInterval(timer);
      socket.write(Buffer.alloc(4000 - sent, 7));
      socket.write(tail);
      await waitFor(() => (answer.includes('\r\n\r\n') ? true : undefined), 5_000, 'the slow upload to be answered');
      expect(answer.startsWith('HTTP/1.1 202')).toBe(true);
    } finally {
      clearInterval(timer);
      socket.destroy();
      await svc.close();
      await s3.close();
    }
  }, 30_000);

  it('many concurrent devices through two slots: every image acknowledged and stored intact', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { INGEST_READ_SLOTS: '2', UPLOAD_BWLIMIT: '1KB' });
    try {
      const images = Array.from({ length: 30 }, () => fakeJpeg(300_000));
      const results = await Promise.all(images.map((img, i) => postImage(svc.baseUrl, `cam-${i}`, img)));
      expect(results.map((r) => r.status)).toEqual(Array(30).fill(202));
      expect(results.map((r) => r.body['sha256']).sort()).toEqual(images.map((img) => sha256Hex(img)).sort());
      expect(svc.service.ledger.summary().queued + svc.service.ledger.summary().uploading).toBe(30);
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 30_000);
});
