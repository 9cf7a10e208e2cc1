/**
 * A logging front for the test S3 server: passes every request through unchanged (ListParts and
 * AbortMultipartUpload included: the server is the product's embedded target, src/s3/local-server.ts, which
 * adds them to s3rver), logs each request (operation, part number, status) for assertions, and can answer
 * chosen requests with an S3 error instead, to simulate a permanent failure or a server without ListParts.
 */
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { uploadsDir } from '../../src/s3/local-multipart.js';
import type { TestS3 } from './s3.js';

export type S3Op = 'UploadPart' | 'ListParts' | 'AbortMultipartUpload' | 'CreateMultipartUpload' | 'CompleteMultipartUpload' | 'PutObject' | 'other';

export interface LoggedRequest {
  method: string;
  op: S3Op;
  partNumber: number | null;
  status: number;
}

export interface Refusal {
  status: number;
  code: string;
}

export interface MultipartFront {
  endpoint: string;
  log: LoggedRequest[];
  /** Answer matching requests with this S3 error instead of passing them on. */
  refuse: ((op: S3Op, partNumber: number | null) => Refusal | null) | null;
  /** Upload ids the server still holds parts for. */
  openUploads(): Promise<string[]>;
  /** Stops listening (connections refused, as an S3 that is down) until start(), on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startMultipartFront(s3: TestS3): Promise<MultipartFront> {
  const front: MultipartFront = {
    endpoint: '',
    log: [],
    refuse: null,
    async openUploads() {
      return readdir(uploadsDir(s3.dir, s3.bucket)).catch(() => []);
    },
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
    start: () => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(new URL(front.endpoint).port), '127.0.0.1', () => resolve());
    }),
    close: () => new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const partNumber = url.searchParams.has('partNumber') ? Number(url.searchParams.get('partNumber')) : null;
    const op = operation(req.method ?? '', url);
    const entry: LoggedRequest = { method: req.method ?? '', op, partNumber, status: 0 };
    front.log.push(entry);
    res.on('finish', () => { entry.status = res.statusCode; });
    const refusal = front.refuse?.(op, partNumber) ?? null;
    if (refusal) {
      req.resume();
      req.on('end', () => sendError(res, refusal.status, refusal.code));
      return;
    }
    forward(req, res);
  });

  const forward = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const upstream = http.request({ host: '127.0.0.1', port: s3.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  front.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return front;
}

function operation(method: string, url: URL): S3Op {
  if (!url.searchParams.has('uploadId')) {
    if (url.searchParams.has('uploads')) return 'CreateMultipartUpload';
    return method === 'PUT' ? 'PutObject' : 'other';
  }
  if (method === 'PUT') return 'UploadPart';
  if (method === 'GET') return 'ListParts';
  return method === 'DELETE' ? 'AbortMultipartUpload' : 'CompleteMultipartUpload';
}

function sendError(res: http.ServerResponse, status: number, code: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} (test front)</Message><RequestId>t</RequestId></Error>`);
}
