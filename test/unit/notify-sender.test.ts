/**
 * The webhook sender on its own, against a real ledger and a local receiver: timeouts and refused
 * connections are attempts with their error kept, and each outcome is one log line without the secret.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/ledger/migrate.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import { DeliveryLedger } from '../../src/notify/deliveries.js';
import { NotifySender } from '../../src/notify/sender.js';
import { waitFor } from '../helpers/in-process.js';
import { signatureValid, startWebhookReceiver } from '../helpers/webhook-receiver.js';

const SECRET = 'unit-test-secret-abcdefghij';
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

async function ledger(): Promise<{ db: Db; deliveries: DeliveryLedger }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'notify-'));
  const db = openLedger(path.join(dir, 'ledger.db'));
  migrate(db);
  cleanups.push(() => rm(dir, { recursive: true, force: true }), () => db.close());
  return { db, deliveries: new DeliveryLedger(db) };
}

function capturedLog(): { log: pino.Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = pino({ level: 'debug' }, sink);
  return {
    log,
    get lines() {
      return raw.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

function sender(deliveries: DeliveryLedger, url: string, log: pino.Logger, extra: Partial<ConstructorParameters<typeof NotifySender>[0]> = {}): NotifySender {
  const s = new NotifySender({ deliveries, url, secret: SECRET, log, maxAttempts: 2, retryBaseMs: 10, retryMaxMs: 20, timeoutMs: 200, ...extra });
  cleanups.push(() => s.stop());
  s.start();
  return s;
}

describe('NotifySender', () => {
  it('counts a POST without an answer within the timeout as an attempt, then fails the delivery', async () => {
    const { deliveries } = await ledger();
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    receiver.hang = true;
    const capture = capturedLog();
    const id = deliveries.insert('IMG1', 'uploaded', '{"event":"uploaded"}', new Date());
    sender(deliveries, receiver.url, capture.log);
    const row = await waitFor(() => (deliveries.get(id)?.state === 'failed' ? deliveries.get(id) : undefined), 5_000, 'failed');
    expect(row).toMatchObject({ attempts: 2, last_status: null, last_error: 'no complete answer within 200 ms', delivered_at: null });
    expect(receiver.requests).toHaveLength(2);
    expect(signatureValid(SECRET, receiver.requests[0]?.raw ?? Buffer.alloc(0), receiver.requests[0]?.headers['x-image-spool-signature'])).toBe(true);
    // One line per outcome: a retry, then the final failure; the secret appears nowhere.
    const outcomes = capture.lines.filter((l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('notification'));
    expect(outcomes.map((l) => [l['msg'], l['attempt'], l['delivery_id']])).toEqual([
      ['notification failed; will retry', 1, id],
      ['notification failed permanently; delivery is failed', 2, id],
    ]);
    expect(capture.text()).not.toContain(SECRET);
  });

  it('records a refused connection as the error and delivers once the receiver is back', async () => {
    const { deliveries } = await ledger();
    // A port nobody listens on (bound, then closed).
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const capture = capturedLog();
    const id = deliveries.insert('IMG2', 'dead', '{"event":"dead"}', new Date());
    sender(deliveries, `http://127.0.0.1:${port}/x`, capture.log, { maxAttempts: 1 });
    const row = await waitFor(() => (deliveries.get(id)?.state === 'failed' ? deliveries.get(id) : undefined), 5_000, 'failed');
    expect(row?.last_error).toMatch(/ECONNREFUSED/);
    expect(row?.attempts).toBe(1);
  });

  it('sends at most `concurrency` POSTs at once and picks new rows as soon as they are inserted', async () => {
    const { deliveries } = await ledger();
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    receiver.hang = true;
    const capture = capturedLog();
    const s = sender(deliveries, receiver.url, capture.log, { timeoutMs: 60_000, concurrency: 2, pollMs: 60_000 });
    for (let i = 0; i < 5; i++) {
      deliveries.insert(`IMG${i}`, 'uploaded', `{"n":${i}}`, new Date());
      s.notify();
    }
    await waitFor(() => (receiver.requests.length === 2 ? true : undefined), 5_000, 'two in flight');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.requests).toHaveLength(2);
    expect(s.active).toBe(2);
    // stop() aborts them without counting an attempt.
    await s.stop();
    expect(deliveries.all().every((d) => d.state === 'pending' && d.attempts === 0)).toBe(true);
  });
  it('sends nothing it read before the ledger says those rows are on disk (durable), and then sends them', async () => {
    const { deliveries } = await ledger();
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let asked = 0;
    const id = deliveries.insert('IMG3', 'uploaded', '{"event":"uploaded"}', new Date());
    sender(deliveries, receiver.url, capturedLog().log, { durable: () => { asked++; return held; } });
    await waitFor(() => (asked > 0 ? true : undefined), 5_000, 'the sender to ask for durability');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(receiver.requests).toHaveLength(0);
    release();
    await waitFor(() => (deliveries.get(id)?.state === 'delivered' ? true : undefined), 5_000, 'delivered');
    expect(receiver.requests).toHaveLength(1);
  });
});
