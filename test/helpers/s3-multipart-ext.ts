/**
 * s3rver lacks ListParts and AbortMultipartUpload. This front server adds them (reading and removing the
 * part files s3rver keeps under `<dir>/<bucket>/._S3rver_uploads/<uploadId>/`) and passes every other
 * request through unchanged. It also logs each request (method, part number, status) for assertions, and
 * can refuse chosen UploadPart requests to simulate a permanent failure.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TestS3 } from './s3.js';

export interface LoggedRequest {
  method: string;
  op: 'UploadPart' | 'ListParts' | 'AbortMultipartUpload' | 'CreateMultipartUpload' | 'CompleteMultipartUpload' | 'PutObject' | 'other';
  partNumber: number | null;
  status: number;
}

export interface MultipartFront {
  endpoint: string;
  log: LoggedRequest[];
  /** Answer matching UploadPart requests with this S3 error instead of passing them on. */
  refuseParts: ((partNumber: number) => { status: number; code: string } | null) | null;
  /** Upload ids s3rver still holds parts for. */
  openUploads(): Promise<string[]>;
  /** Stops listening (connections refused, as an S3 that is down) until start(), on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startMultipartFront(s3: TestS3): Promise<MultipartFront> {
  const uploadsDir = path.join(s3.dir, s3.bucket, '._S3rver_uploads');
  const front: MultipartFront = {
    endpoint: '',
    log: [],
    refuseParts: null,
    async openUploads() {
      return readdir(uploadsDir).catch(() => []);
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
    const uploadId = url.searchParams.get('uploadId');
    const partNumber = url.searchParams.has('partNumber') ? Number(url.searchParams.get('partNumber')) : null;
    const op: LoggedRequest['op'] = uploadId === null
      ? (url.searchParams.has('uploads') ? 'CreateMultipartUpload' : req.method === 'PUT' ? 'PutObject' : 'other')
      : req.method === 'PUT' ? 'UploadPart' : req.method === 'GET' ? 'ListParts' : req.method === 'DELETE' ? 'AbortMultipartUpload' : 'CompleteMultipartUpload';
    const entry: LoggedRequest = { method: req.method ?? '', op, partNumber, status: 0 };
    front.log.push(entry);
    res.on('finish', () => { entry.status = res.statusCode; });
    if (op === 'ListParts' && uploadId) return void listParts(url, uploadId, res);
    if (op === 'AbortMultipartUpload' && uploadId) return void abort(uploadId, res);
    const refusal = op === 'UploadPart' && partNumber !== null ? front.refuseParts?.(partNumber) ?? null : null;
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

  const listParts = async (url: URL, uploadId: string, res: http.ServerResponse): Promise<void> => {
    const dir = path.join(uploadsDir, uploadId);
    const names = await readdir(dir).catch(() => null);
    if (names === null) return sendError(res, 404, 'NoSuchUpload');
    const numbers = names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
    const parts = await Promise.all(numbers.map(async (n) => {
      const [info, md5] = await Promise.all([stat(path.join(dir, String(n))), readFile(path.join(dir, `${n}.md5`), 'utf8').catch(() => '')]);
      return `<Part><PartNumber>${n}</PartNumber><LastModified>${info.mtime.toISOString()}</LastModified><ETag>"${md5}"</ETag><Size>${info.size}</Size></Part>`;
    }));
    const key = url.pathname.split('/').slice(2).join('/');
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Bucket>${s3.bucket}</Bucket><Key>${key}</Key><UploadId>${uploadId}</UploadId><PartNumberMarker>0</PartNumberMarker>` +
      `<MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>${parts.join('')}</ListPartsResult>`);
  };

  const abort = async (uploadId: string, res: http.ServerResponse): Promise<void> => {
    const dir = path.join(uploadsDir, uploadId);
    if ((await readdir(dir).catch(() => null)) === null) return sendError(res, 404, 'NoSuchUpload');
    await rm(dir, { recursive: true, force: true });
    res.writeHead(204);
    res.end();
  };

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  front.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return front;
}

function sendError(res: http.ServerResponse, status: number, code: string): void {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} (test front)</Message><RequestId>t</RequestId></Error>`);
}
