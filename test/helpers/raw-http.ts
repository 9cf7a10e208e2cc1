import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startService, type RunningService } from '../../src/main.js';
import { s3Env, type TestS3 } from './s3.js';

/**
 * Byte-exact HTTP for bad-input tests: what a broken device, a proxy gone wrong or an attacker can put
 * on the wire, which fetch() and node:http refuse to send.
 */

/** One step of a raw exchange: bytes to write, a pause, or how the client gives up. */
export type Step = Buffer | string | { wait: number } | { halfClose: true } | { destroy: true };

export interface RawResponse {
  /** The first final (non-1xx) status, or null when the server closed (or we gave up) without one. */
  status: number | null;
  /** Lower-cased response headers of that response. */
  headers: Record<string, string>;
  body: Buffer;
  /** Every byte the server sent, including any later responses on the same connection. */
  raw: Buffer;
  /** The client gave up waiting (per-request timeout): for the service, a hang. */
  timedOut: boolean;
  /** A socket error the client saw (ECONNRESET, EPIPE), if any. */
  socketError: string | null;
}

/**
 * Connects, runs the steps in order, and waits for one complete response, the server closing, or
 * `timeoutMs`. Writes stop once the server has closed or answered (an early 413/415 is not an error).
 */
export function rawExchange(port: number, steps: readonly Step[], timeoutMs = 5000): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let socketError: string | null = null;
    let settled = false;
    let serverClosed = false;
    const settle = (timedOut: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const raw = Buffer.concat(chunks);
      const parsed = parseFirstResponse(raw, true);
      socket.destroy();
      resolve({ status: parsed?.status ?? null, headers: parsed?.headers ?? {}, body: parsed?.body ?? Buffer.alloc(0), raw, timedOut, socketError });
    };
    const timer = setTimeout(() => settle(true), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (parseFirstResponse(Buffer.concat(chunks), false)) settle(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      socketError = err.code ?? err.message;
    });
    socket.on('close', () => {
      serverClosed = true;
      settle(false);
    });
    socket.on('end', () => {
      serverClosed = true;
      // The server finished its side; whatever arrived is the answer (or there is none).
      setImmediate(() => settle(false));
    });
    socket.once('connect', () => {
      void (async () => {
        for (const step of steps) {
          if (settled || serverClosed || socket.destroyed) return;
          if (typeof step === 'string' || Buffer.isBuffer(step)) {
            await new Promise<void>((done) => socket.write(step, () => done()));
          } else if ('wait' in step) {
            await new Promise((done) => setTimeout(done, step.wait));
          } else if ('halfClose' in step) {
            socket.end();
          } else {
            socket.destroy();
            // No answer can arrive: report what came before the abort.
            setImmediate(() => settle(false));
            return;
          }
        }
      })();
    });
  });
}

interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses the first final response in `raw`; null while it is incomplete (unless `atEof`). */
export function parseFirstResponse(raw: Buffer, atEof: boolean): ParsedResponse | null {
  let offset = 0;
  for (;;) {
    const headEnd = raw.indexOf('\r\n\r\n', offset);
    if (headEnd < 0) return null;
    const head = raw.subarray(offset, headEnd).toString('latin1');
    const [statusLine = '', ...lines] = head.split('\r\n');
    const match = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine);
    if (!match) return null;
    const status = Number(match[1]);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200) {
      offset = bodyStart; // 100 Continue: the real answer follows
      continue;
    }
    const length = headers['content-length'];
    if (length !== undefined) {
      const n = Number(length);
      if (raw.length - bodyStart < n) return atEof ? { status, headers, body: raw.subarray(bodyStart) } : null;
      return { status, headers, body: raw.subarray(bodyStart, bodyStart + n) };
    }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const body = decodeChunked(raw.subarray(bodyStart));
      if (body) return { status, headers, body };
      return atEof ? { status, headers, body: raw.subarray(bodyStart) } : null;
    }
    // No framing: the body runs to the close.
    return atEof ? { status, headers, body: raw.subarray(bodyStart) } : null;
  }
}

function decodeChunked(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    at = lineEnd + 2;
    if (size === 0) return Buffer.concat(parts);
    if (data.length < at + size + 2) return null;
    parts.push(data.subarray(at, at + size));
    at += size + 2;
  }
}

/** Chunked transfer encoding of `body` in pieces of `pieceBytes`. */
export function chunked(body: Buffer, pieceBytes = 8192): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += pieceBytes) {
    const piece = body.subarray(at, at + pieceBytes);
    out.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  }
  out.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(out);
}

/** One multipart part: a field (no filename) or a file part. */
export interface Part {
  name: string;
  value: Buffer | string;
  filename?: string;
  contentType?: string;
  /** Replaces the generated part headers entirely (for malformed headers). */
  rawHeaders?: string;
}

/** Serialises parts as multipart/form-data; `close: false` leaves out the closing delimiter. */
export function multipartBody(boundary: string, parts: readonly Part[], options: { close?: boolean } = {}): Buffer {
  const out: Buffer[] = [];
  for (const part of parts) {
    let headers = part.rawHeaders;
    if (headers === undefined) {
      headers = `Content-Disposition: form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}\r\n`;
      if (part.contentType !== undefined) headers += `Content-Type: ${part.contentType}\r\n`;
    }
    out.push(Buffer.from(`--${boundary}\r\n${headers}\r\n`, 'latin1'));
    out.push(typeof part.value === 'string' ? Buffer.from(part.value, 'latin1') : part.value);
    out.push(Buffer.from('\r\n'));
  }
  if (options.close !== false) out.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(out);
}

/** A request head with CRLF line endings; `headers` are written exactly as given, in order. */
export function requestHead(requestLine: string, headers: ReadonlyArray<readonly [string, string]>): string {
  return `${requestLine}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

export interface ObservedService {
  service: RunningService;
  port: number;
  baseUrl: string;
  spoolDir: string;
  imagesDir: string;
  adminToken: string;
  /** Parsed pino lines, in order. */
  logs: Array<Record<string, unknown>>;
  /** Every file in the spool's images dir. */
  files(): Promise<string[]>;
  /** Every ledger row (read through a separate read-only connection, as an operator would). */
  rows(): Array<{ id: string; device_id: string; sha256: string; bytes: number; content_type: string; path: string; s3_key: string }>;
  close(): Promise<void>;
}

/** Like startInProcess, but with the service's log captured so tests can check that refusals are logged. */
export async function startObservedService(s3: TestS3, env: Record<string, string> = {}): Promise<ObservedService> {
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-bad-'));
  process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
  const adminToken = 'test-admin-token-0123456789';
  const config = loadConfig({ ...s3Env(s3), HOST: '127.0.0.1', PORT: '0', SPOOL_DIR: spoolDir, RETRY_BASE_MS: '20', ADMIN_TOKEN: adminToken, ...env });
  const logs: Array<Record<string, unknown>> = [];
  const sink = {
    write(line: string): void {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ unparsed: line });
      }
    },
  };
  const service = await startService(config, pino({ level: 'info' }, sink));
  const imagesDir = path.join(spoolDir, 'images');
  let reader: Database.Database | null = null;
  return {
    service,
    port: service.port,
    baseUrl: `http://127.0.0.1:${service.port}`,
    spoolDir,
    imagesDir,
    adminToken,
    logs,
    files: () => readdir(imagesDir),
    rows() {
      reader ??= new Database(path.join(spoolDir, 'ledger.db'), { readonly: true, fileMustExist: true });
      return reader.prepare('SELECT id, device_id, sha256, bytes, content_type, path, s3_key FROM images ORDER BY id').all() as ReturnType<ObservedService['rows']>;
    },
    async close() {
      reader?.close();
      await service.stop();
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
}
