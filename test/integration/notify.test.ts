/**
 * Outcome webhooks (NOTIFY_URL): a signed POST per `uploaded` / `dead` event, recorded in the ledger when
 * the event happens, retried with backoff by a sender that never holds up uploads, resumed after a restart.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startService } from '../../src/main.js';
import type { DeliveryRow } from '../../src/notify/deliveries.js';
import type { NotificationBody } from '../../src/notify/payload.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { signatureValid, startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'notify-test-secret-0123456789';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

async function setup(env: Record<string, string> = {}, s3Endpoint?: (s3: TestS3) => Promise<string>): Promise<{ s3: TestS3; receiver: WebhookReceiver; svc: InProcessService }> {
  const s3 = await startTestS3();
  cleanups.push(() => s3.close());
  const receiver = await startWebhookReceiver();
  cleanups.push(() => receiver.close());
  const endpoint = s3Endpoint ? await s3Endpoint(s3) : s3.endpoint;
  const svc = await startInProcess({ ...s3, endpoint }, {
    NOTIFY_URL: receiver.url, NOTIFY_SECRET: SECRET, NOTIFY_RETRY_BASE_MS: '20', NOTIFY_RETRY_MAX_MS: '100',
    UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0', ...env,
  });
  cleanups.push(() => svc.close());
  return { s3, receiver, svc };
}

/** The deliveries as an operator sees them: `sqlite3 spool/ledger.db 'select * from notify_deliveries'`. */
function deliveries(spoolDir: string): DeliveryRow[] {
  const db = new Database(path.join(spoolDir, 'ledger.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM notify_deliveries ORDER BY id').all() as DeliveryRow[];
  } finally {
    db.close();
  }
}

const header = (req: ReceivedRequest, name: string): string | undefined => {
  const v = req.headers[name.toLowerCase()];
  return typeof v === 'string' ? v : undefined;
};

describe('outcome webhooks (NOTIFY_URL)', () => {
  it('POSTs one signed `uploaded` notification per image, retrying the receiver\'s 500s; the ledger records attempts', async () => {
    const { receiver, svc } = await setup();
    receiver.failNext(2);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await postImage(svc.baseUrl, `cam-${i}`, fakeJpeg(60_000));
      expect(res.status).toBe(202);
      ids.push(res.body['id'] as string);
    }
    const rows = await waitFor(() => {
      const all = deliveries(svc.spoolDir);
      return all.length === 3 && all.every((d) => d.state === 'delivered') ? all : undefined;
    }, 15_000, 'three delivered notifications');

    // Exactly one delivery per image, all `uploaded`, all delivered.
    expect(rows.map((d) => d.image_id).sort()).toEqual([...ids].sort());
    for (const d of rows) {
      expect(d).toMatchObject({ event: 'uploaded', state: 'delivered', last_status: 200, last_error: null });
      expect(d.delivered_at).not.toBeNull();
    }
    // The receiver failed the first two POSTs: five requests in all, and the ledger counts each one.
    expect(receiver.requests).toHaveLength(5);
    expect(receiver.requests.filter((r) => r.status === 500)).toHaveLength(2);
    expect(rows.reduce((sum, d) => sum + d.attempts, 0)).toBe(5);
    expect(rows.some((d) => d.attempts > 1)).toBe(true);
    for (const d of rows) {
      const posts = receiver.requests.filter((r) => header(r, 'X-Image-Spool-Delivery') === String(d.id));
      expect(posts).toHaveLength(d.attempts);
      // Every attempt sends the same bytes: the ones stored in the ledger.
      for (const post of posts) expect(post.raw.toString('utf8')).toBe(d.body);
    }

    for (const req of receiver.requests) {
      expect(req.method).toBe('POST');
      expect(req.url).toBe('/hooks/image-spool');
      expect(header(req, 'Content-Type')).toBe('application/json');
      expect(header(req, 'X-Image-Spool-Event')).toBe('uploaded');
      expect(signatureValid(SECRET, req.raw, req.headers['x-image-spool-signature'])).toBe(true);
      expect(signatureValid('another-secret-0123456789', req.raw, req.headers['x-image-spool-signature'])).toBe(false);
      // The body describes the image as the ledger has it once uploaded.
      const body = JSON.parse(req.raw.toString('utf8')) as NotificationBody;
      const row = svc.service.ledger.get(body.image.id);
      expect(row).toBeDefined();
      if (!row) continue;
      expect(body).toEqual({
        event: 'uploaded',
        image: {
          id: row.id, device_id: row.device_id, sha256: row.sha256, bytes: row.bytes, content_type: row.content_type,
          s3_key: row.s3_key, state: 'uploaded', attempts: row.attempts, last_error: null, received_at: row.received_at, uploaded_at: row.uploaded_at,
          duplicate_of: null,
        },
        sent_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
      expect(row.state).toBe('uploaded');
      expect(row.uploaded_at).not.toBeNull();
    }
  }, 30_000);

  it('POSTs a `dead` notification when recovery finds an acknowledged image\'s file gone after a restart', async () => {
    const s3 = await startTestS3();
    cleanups.push(() => s3.close());
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    // Held in the queue (1 KB/s), then the service stops and the file disappears (an operator, a bad disk).
    const svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
    const id = (await postImage(svc.baseUrl, 'cam-lost', fakeJpeg(80_000))).body['id'] as string;
    await svc.service.stop();
    for (const f of await svc.files()) await rm(path.join(svc.spoolDir, 'images', f));
    const again = await startService(loadConfig({
      ...s3Env(s3), HOST: '127.0.0.1', PORT: '0', SPOOL_DIR: svc.spoolDir, SPOOL_MIN_FREE_BYTES: '0',
      NOTIFY_URL: receiver.url, NOTIFY_SECRET: SECRET, NOTIFY_RETRY_BASE_MS: '20', NOTIFY_RETRY_MAX_MS: '100',
    }), pino({ level: 'silent' }));
    cleanups.push(async () => {
      await again.stop();
      await rm(svc.spoolDir, { recursive: true, force: true });
    });
    expect(again.ledger.get(id)?.state).toBe('dead');
    const req = await waitFor(() => receiver.requests[0], 10_000, 'the dead notification');
    const body = JSON.parse(req.raw.toString('utf8')) as NotificationBody;
    expect(body).toMatchObject({ event: 'dead', image: { id, device_id: 'cam-lost', state: 'dead', last_error: expect.stringMatching(/missing/) } });
    expect(signatureValid(SECRET, req.raw, req.headers['x-image-spool-signature'])).toBe(true);
  }, 30_000);

  it('POSTs a `dead` notification when S3 refuses an image for good', async () => {
    let proxyClose: (() => Promise<void>) | undefined;
    const { receiver, svc } = await setup({ MAX_ATTEMPTS: '1', RETRY_MAX_MS: '50' }, async (s3) => {
      const proxy = await startFaultProxy({ upstream: s3.endpoint, schedule: [{ kind: 'error', method: 'PUT', status: 403, code: 'AccessDenied' }] });
      proxyClose = () => proxy.close();
      return proxy.endpoint;
    });
    cleanups.splice(cleanups.length - 1, 0, async () => proxyClose?.()); // closed after the service
    const res = await postImage(svc.baseUrl, 'cam-dead', fakeJpeg(50_000));
    const id = res.body['id'] as string;
    const [d] = await waitFor(() => {
      const all = deliveries(svc.spoolDir);
      return all.length === 1 && all[0]?.state === 'delivered' ? all : undefined;
    }, 15_000, 'dead notification delivered');
    expect(d).toMatchObject({ image_id: id, event: 'dead', state: 'delivered', attempts: 1, last_status: 200 });
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0] as ReceivedRequest;
    expect(header(req, 'X-Image-Spool-Event')).toBe('dead');
    expect(header(req, 'X-Image-Spool-Delivery')).toBe(String(d?.id));
    expect(signatureValid(SECRET, req.raw, req.headers['x-image-spool-signature'])).toBe(true);
    const body = JSON.parse(req.raw.toString('utf8')) as NotificationBody;
    const row = svc.service.ledger.get(id);
    expect(row).toMatchObject({ state: 'dead', attempts: 1, last_error: expect.stringMatching(/AccessDenied/) });
    expect(body.event).toBe('dead');
    expect(body.image).toMatchObject({ id, state: 'dead', attempts: 1, last_error: row?.last_error, uploaded_at: null, s3_key: row?.s3_key });
  }, 30_000);

  it('gives up after NOTIFY_MAX_ATTEMPTS with the last error kept; uploads are unaffected', async () => {
    const { receiver, svc } = await setup({ NOTIFY_MAX_ATTEMPTS: '3' });
    receiver.status = 503;
    const res = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(50_000));
    const id = res.body['id'] as string;
    const [d] = await waitFor(() => {
      const all = deliveries(svc.spoolDir);
      return all[0]?.state === 'failed' ? all : undefined;
    }, 15_000, 'failed delivery');
    expect(d).toMatchObject({ image_id: id, state: 'failed', attempts: 3, last_status: 503, last_error: 'HTTP 503: ok', delivered_at: null });
    expect(receiver.requests).toHaveLength(3);
    expect(svc.service.ledger.get(id)?.state).toBe('uploaded');
    // Failed is final: nothing more is sent.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests).toHaveLength(3);
  }, 30_000);

  it('a receiver that never answers does not delay uploads; stop() does not wait for it; a restart delivers what was pending', async () => {
    const { s3, receiver, svc } = await setup();
    receiver.hang = true;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await postImage(svc.baseUrl, 'cam-1', fakeJpeg(60_000))).body['id'] as string);
    // Every image is uploaded while the first notifications are still waiting for an answer (10 s timeout).
    await waitFor(() => (ids.every((id) => svc.service.ledger.get(id)?.state === 'uploaded') ? true : undefined), 5_000, 'all uploaded');
    const pending = deliveries(svc.spoolDir);
    expect(pending).toHaveLength(6);
    for (const d of pending) expect(d).toMatchObject({ state: 'pending', attempts: 0 });
    // A few at a time: 4 POSTs in flight, none answered.
    await waitFor(() => (receiver.requests.length === 4 ? true : undefined), 5_000, 'four POSTs in flight');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.requests).toHaveLength(4);
    expect(receiver.requests.every((r) => r.status === null)).toBe(true);

    // Stopping aborts the POSTs in flight without counting them; the rows stay pending in the ledger.
    const stopStarted = Date.now();
    await svc.service.stop();
    expect(Date.now() - stopStarted).toBeLessThan(3_000);
    for (const d of deliveries(svc.spoolDir)) expect(d).toMatchObject({ state: 'pending', attempts: 0 });

    // Restart on the same spool with a receiver that answers: every pending delivery goes out once.
    receiver.hang = false;
    const before = receiver.requests.length;
    const config = loadConfig({
      ...s3Env(s3), HOST: '127.0.0.1', PORT: '0', SPOOL_DIR: svc.spoolDir, SPOOL_MIN_FREE_BYTES: '0',
      NOTIFY_URL: receiver.url, NOTIFY_SECRET: SECRET, NOTIFY_RETRY_BASE_MS: '20', NOTIFY_RETRY_MAX_MS: '100',
    });
    const again = await startService(config, pino({ level: 'silent' }));
    try {
      const rows = await waitFor(() => {
        const all = deliveries(svc.spoolDir);
        return all.every((d) => d.state === 'delivered') ? all : undefined;
      }, 15_000, 'pending deliveries delivered after restart');
      expect(rows.map((d) => d.image_id).sort()).toEqual([...ids].sort());
      for (const d of rows) expect(d).toMatchObject({ event: 'uploaded', attempts: 1, last_status: 200 });
      const after = receiver.requests.slice(before);
      expect(after).toHaveLength(6);
      expect(new Set(after.map((r) => header(r, 'X-Image-Spool-Delivery')))).toEqual(new Set(rows.map((d) => String(d.id))));
      for (const req of after) expect(signatureValid(SECRET, req.raw, req.headers['x-image-spool-signature'])).toBe(true);
    } finally {
      await again.stop();
      await rm(svc.spoolDir, { recursive: true, force: true });
    }
  }, 45_000);
});
