import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as it arrived. */
  raw: Buffer;
  /** What the receiver answered; null while it is holding the request (hang). */
  status: number | null;
}

export interface WebhookReceiver {
  url: string;
  requests: ReceivedRequest[];
  /** Answer the next `n` requests with 500. */
  failNext(n: number): void;
  /** While true, requests are read and then never answered. */
  hang: boolean;
  /** Answer with this status (default 200) when not failing or hanging. */
  status: number;
  close(): Promise<void>;
}

/** A local webhook endpoint on 127.0.0.1 that records every request (test/integration/notify.test.ts). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let failing = 0;
  const held: ServerResponse[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    requests: [],
    failNext(n) {
      failing = n;
    },
    hang: false,
    status: 200,
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks), status: null };
      receiver.requests.push(entry);
      if (receiver.hang) {
        held.push(res);
        return;
      }
      entry.status = failing > 0 ? 500 : receiver.status;
      if (failing > 0) failing--;
      res.writeHead(entry.status, { 'content-type': 'text/plain' }).end(entry.status === 500 ? 'receiver says no\n' : 'ok\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/image-spool`;
  return receiver;
}

/** What a receiver does: HMAC-SHA256 over the raw body, compared in constant time with the header. */
export function signatureValid(secret: string, raw: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'), 'utf8');
  const got = Buffer.from(header.slice('sha256='.length), 'utf8');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
