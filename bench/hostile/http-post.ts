/** POST with node:http from a chosen loopback address, with a deadline; the answer's body is kept (a receipt). */
import http, { type IncomingHttpHeaders } from 'node:http';

/** Every hostile client connects from one of these; the honest cameras keep 127.0.0.1 to themselves. */
export const HOSTILE_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];

export function hostileAddress(n: number): string {
  return HOSTILE_ADDRESSES[n % HOSTILE_ADDRESSES.length] as string;
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The first 64 KiB of the body. */
  body: Buffer;
  ms: number;
}

export interface PostOptions {
  headers: Record<string, string>;
  body: readonly Buffer[];
  localAddress?: string;
  /** Destroys the request after this long (a hang becomes an error with code `deadline`). */
  deadlineMs: number;
}

const BODY_KEEP = 64 * 1024;
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

export function post(url: string, o: PostOptions): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST', agent, headers: o.headers, ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }),
    }, (res) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (kept < BODY_KEEP) chunks.push(chunk);
        kept += chunk.length;
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: performance.now() - started });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('deadline'), { code: 'deadline' })), o.deadlineMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    for (const part of o.body) req.write(part);
    req.end();
  });
}
