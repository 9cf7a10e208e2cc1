/**
 * Slow and idle clients cannot starve real devices: sockets that never finish their headers are closed
 * after INGEST_HEADERS_TIMEOUT_MS, bodies that trickle below INGEST_MIN_BODY_RATE get 408 and are closed,
 * and no half-written file or row is left behind.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: net.Socket): Promise<string> {
  let data = '';
  s.on('data', (c: Buffer) => { data += c.toString('latin1'); });
  s.on('error', () => undefined);
  return new Promise((resolve) => s.once('close', () => resolve(data)));
}

describe('slow clients', () => {
  it('closes idle and trickling connections so that real devices get through', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, {
      INGEST_HEADERS_TIMEOUT_MS: '1000', INGEST_BODY_TIMEOUT_MS: '1000', INGEST_MIN_BODY_RATE: '1KB',
      MAX_CONCURRENT_UPLOADS: '100', UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0',
    });
    try {
      const port = Number(new URL(svc.baseUrl).port);
      // 300 sockets that start a request and never finish its headers.
      const idle = await Promise.all(Array.from({ length: 300 }, () => connect(port)));
      const idleClosed = idle.map((s) => { s.write('POST /image HTTP/1.1\r\nHost: gw\r\n'); return closed(s); });
      // 150 devices that send headers, then trickle 10 bytes every 200 ms (50 B/s) of a 200 kB body.
      const boundary = 'trickle';
      const tricklers = await Promise.all(Array.from({ length: 150 }, () => connect(port)));
      const timers: NodeJS.Timeout[] = [];
      const trickleClosed = tricklers.map((s, i) => {
        s.write(`POST /image HTTP/1.1\r\nHost: gw\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 200000\r\n\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\nslow-${i}\r\n` +
          `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
        s.write(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
        timers.push(setInterval(() => { if (!s.destroyed) s.write(Buffer.alloc(10, 1)); }, 200));
        return closed(s);
      });
      const started = Date.now();
      // Real devices retry on 503 (Retry-After: 1), as the seed's devices would.
      const real = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        for (;;) {
          const res = await postImage(svc.baseUrl, `real-${i}`, fakeJpeg(100_000));
          if (res.status !== 503 || Date.now() - started > 15_000) return res;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }));
      expect(real.map((r) => r.status)).toEqual(Array(10).fill(202));
      const idleAnswers = await Promise.all(idleClosed);
      const trickleAnswers = await Promise.all(trickleClosed);
      for (const t of timers) clearInterval(t);
      // Node answers an unfinished header with 408 (or just closes); a trickler gets our JSON 408.
      expect(idleAnswers.every((a) => a === '' || a.startsWith('HTTP/1.1 408'))).toBe(true);
      expect(trickleAnswers.every((a) => a.startsWith('HTTP/1.1 408') || a.startsWith('HTTP/1.1 503'))).toBe(true);
      expect(trickleAnswers.filter((a) => a.includes('"request_timeout"')).length).toBeGreaterThan(50);
      expect(Date.now() - started).toBeLessThan(20_000);
      // Only the real devices' images were kept; no half-written file remains.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await svc.files()).filter((f) => f.endsWith('.part'))).toEqual([]);
      const rows = svc.service.ledger.summary();
      expect(rows.queued + rows.uploading + rows.uploaded).toBe(10);
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 60_000);
});
