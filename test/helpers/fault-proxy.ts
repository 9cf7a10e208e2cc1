import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { seededRandom } from './crash-harness.js';

/**
 * A fault-injecting HTTP/1.1 proxy for the path service -> S3 (test/integration/s3-faults.test.ts).
 *
 * It understands just enough HTTP/1.1 to act per request on a keep-alive connection: the request line
 * and headers, then the body by Content-Length (or chunked framing), then the upstream response by
 * Content-Length, chunked framing or connection close. Bytes it cannot parse are tunnelled raw.
 *
 * Every request is either passed through or given one fault:
 *  - `reset`: reads part of the body, then resets the client connection (TCP RST);
 *  - `error`: reads the body and answers an S3 error itself (500 InternalError or 503 SlowDown, XML body;
 *    no body for HEAD), keeping the connection alive; a request waiting on `Expect: 100-continue` gets
 *    the error at once instead, and the connection is closed;
 *  - `stall`: reads part of the body, then stops reading (the socket is paused, so TCP flow control
 *    pushes back) and never answers; the connection is reset after `stallHoldMs` if the client has not
 *    given up first (counted apart: a client that notices stalls gives up long before);
 *  - `drop`: forwards the whole request, waits for S3's answer (the object is stored), then closes the
 *    client connection without sending it;
 *  - `corrupt`: forwards the whole request with one byte of its body flipped (at `at`; Content-Length bodies
 *    only) and passes S3's answer back: a server that checks Content-MD5 refuses it, one that does not stores it.
 *    Scheduled only: random faults never pick it unless `kinds` names it.
 *
 * A request body is always held in full before anything of it is forwarded, and a faulted request is
 * never forwarded at all (except `drop`, by definition whole). That matters: s3rver opens the object file
 * for writing when a PUT starts and keeps whatever arrived when the request is aborted, so forwarding part
 * of a body and then cutting it would truncate an object S3 proper would have kept intact.
 *
 * Any method works (PUT, HEAD, GET, POST and DELETE of multipart uploads): the proxy only frames messages.
 * Each forwarded request gets a fresh upstream connection, so s3rver's keep-alive timeout never races a
 * request. `Expect: 100-continue` is answered by the proxy itself and stripped before forwarding.
 *
 * Faults come from an explicit schedule first (deterministic tests), otherwise from a seeded PRNG with
 * probability `probability` per request. Each request draws the same number of random values whatever
 * happens to it, so a seed replays the same choices for the same request order.
 *
 * `emulateIfNoneMatch` makes the proxy answer what S3 proper answers and s3rver does not: a PUT with
 * `If-None-Match: *` for a key a PUT has already been stored under (through this proxy) gets 412
 * PreconditionFailed, without being forwarded.
 */

export type FaultKind = 'reset' | 'error' | 'stall' | 'drop' | 'corrupt';
export const FAULT_KINDS: readonly FaultKind[] = ['reset', 'error', 'stall', 'drop'];

/** One scheduled decision. */
export interface FaultSpec {
  /** `none` passes one request through (to place a later entry, e.g. on the second POST). */
  kind: FaultKind | 'none';
  /** Only a request with this method consumes the entry; others pass it by (and draw from the PRNG). */
  method?: string;
  /** reset / stall: the fraction of the body read before acting, 0..1. Default: drawn. */
  at?: number;
  /** error: the status to answer. Default: 500 or 503, drawn. */
  status?: number;
  /** error: the S3 error code. Default: InternalError for 500, SlowDown for 503, else `Error<status>`. */
  code?: string;
}

export interface FaultProxyOptions {
  /** Where requests go: `http://host:port`. */
  upstream: string;
  /** PRNG seed. @default 1 */
  seed?: number;
  /** Per-request probability of a random fault. @default 0 */
  probability?: number;
  /** Which kinds random faults pick from (uniformly). @default all four */
  kinds?: readonly FaultKind[];
  /** Which methods random faults apply to. @default all */
  methods?: readonly string[];
  /** Consumed in order before the PRNG is asked (see FaultSpec.method). */
  schedule?: readonly FaultSpec[];
  /** How long a stalled request is held before the proxy resets it. @default 30000 */
  stallHoldMs?: number;
  /** Answer 412 to `If-None-Match: *` PUTs of keys already stored through the proxy, as S3 does. @default false */
  emulateIfNoneMatch?: boolean;
}

export interface FaultCounters {
  connections: number;
  requests: number;
  requestsByMethod: Record<string, number>;
  /** Requests sent on to the upstream (passed through, or `drop`). */
  forwarded: number;
  faults: Record<FaultKind, number>;
  /** e.g. `PUT reset`, `HEAD stall`. */
  faultsByMethod: Record<string, number>;
  /** `error` faults by the status answered. */
  errorsByStatus: Record<string, number>;
  /** Stalled requests the client gave up on (closed) before the hold ran out. */
  stallsEndedByClient: number;
  /** Stalled requests still open when the hold ran out (the proxy reset them). */
  stallsEndedByProxy: number;
  /** The same by method: `PUT client`, `HEAD proxy`, ... */
  stallEnds: Record<string, number>;
  /** Emulated 412s (emulateIfNoneMatch). */
  preconditionFailed: number;
  /** Upstream connection failures or unparseable upstream answers (the client connection is then reset). */
  upstreamErrors: number;
  /** Client connections closed in the middle of a request that had no fault. */
  clientAborts: number;
  /** Connections tunnelled raw because a request could not be parsed. */
  rawTunnels: number;
}

export interface FaultEvent {
  seq: number;
  method: string;
  target: string;
  /** What happened: a fault, `pass` (forwarded, answered) or `precondition` (emulated 412). */
  outcome: FaultKind | 'pass' | 'precondition';
  /** The status the client saw, when it saw one. */
  status: number | null;
  ms: number;
  /** Request bytes read from the client: head and body (the head only for a reset, a stall, or an error before a 100 Continue). */
  bytes: number;
  /** The request's headers, names in lower case. */
  headers: Record<string, string>;
}

export interface FaultProxy {
  port: number;
  endpoint: string;
  counters: FaultCounters;
  events: FaultEvent[];
  /** Appends to the schedule. */
  schedule(...specs: FaultSpec[]): void;
  setProbability(p: number): void;
  /** One line: the counters that matter. */
  summary(): string;
  close(): Promise<void>;
}

const MAX_HEAD_BYTES = 64 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

class PeerGone extends Error {
  constructor(what: string) {
    super(`${what} closed the connection`);
  }
}

class ProtocolError extends Error {}

/** Buffers a socket's bytes and hands them out on demand. */
class Reader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;

  constructor(readonly socket: net.Socket, private readonly who: string) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.wake();
    });
    socket.on('end', () => this.finish());
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish());
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get buffered(): number {
    return this.buf.length;
  }

  /** Resolves when bytes arrive or the peer goes. */
  private next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  /** Resolves when the peer has gone (end, close or error). */
  async gone(): Promise<void> {
    while (!this.ended) await this.next();
  }

  take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next head (through the blank line); null when the peer closes cleanly before any byte of it. */
  async readHead(): Promise<Buffer | null> {
    for (;;) {
      const end = this.buf.indexOf(CRLF2);
      if (end >= 0) return this.take(end + 4);
      if (this.buf.length > MAX_HEAD_BYTES) throw new ProtocolError(`${this.who} head over ${MAX_HEAD_BYTES} bytes`);
      if (this.ended) {
        if (this.buf.length === 0) return null;
        throw new PeerGone(this.who);
      }
      await this.next();
    }
  }

  /** Waits until at least `n` bytes are buffered (does not take them). */
  async fill(n: number): Promise<void> {
    while (this.buf.length < n) {
      if (this.ended) throw new PeerGone(this.who);
      await this.next();
    }
  }

  async readExactly(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.take(n);
  }

  async readChunked(): Promise<Buffer> {
    for (;;) {
      const end = chunkedEnd(this.buf, 0);
      if (end !== null) return this.take(end);
      if (this.ended) throw new PeerGone(this.who);
      await this.next();
    }
  }

  async readToEnd(): Promise<Buffer> {
    await this.gone();
    return this.take(this.buf.length);
  }
}

/** Offset just past a complete chunked body starting at `from`, or null while incomplete. */
function chunkedEnd(buf: Buffer, from: number): number | null {
  let pos = from;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos);
    if (lineEnd < 0) return null;
    const sizeText = (buf.toString('latin1', pos, lineEnd).split(';')[0] ?? '').trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText)) throw new ProtocolError(`bad chunk size ${JSON.stringify(sizeText)}`);
    const size = parseInt(sizeText, 16);
    pos = lineEnd + 2;
    if (size === 0) {
      for (;;) {
        const e = buf.indexOf('\r\n', pos);
        if (e < 0) return null;
        if (e === pos) return e + 2;
        pos = e + 2;
      }
    }
    if (buf.length < pos + size + 2) return null;
    pos += size + 2;
  }
}

interface Head {
  raw: Buffer;
  startLine: string;
  lines: string[];
  header(name: string): string | undefined;
  headers: Record<string, string>;
}

function parseHead(raw: Buffer): Head {
  const text = raw.toString('latin1', 0, raw.length - 4);
  const [startLine = '', ...lines] = text.split('\r\n');
  const map = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ProtocolError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    map.set(name, map.has(name) ? `${map.get(name) ?? ''}, ${value}` : value);
  }
  return { raw, startLine, lines, header: (name) => map.get(name.toLowerCase()), headers: Object.fromEntries(map) };
}

type Framing = { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

function bodyFraming(head: Head, isResponse: boolean): Framing {
  const te = head.header('transfer-encoding');
  if (te !== undefined && /(^|,)\s*chunked\s*$/i.test(te)) return { kind: 'chunked' };
  const cl = head.header('content-length');
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new ProtocolError(`bad content-length ${JSON.stringify(cl)}`);
    return { kind: 'length', length: Number(cl) };
  }
  // A request without either has no body; a response without either runs to the close.
  return isResponse ? { kind: 'close' } : { kind: 'length', length: 0 };
}

async function readBody(reader: Reader, framing: Framing): Promise<Buffer> {
  if (framing.kind === 'length') return reader.readExactly(framing.length);
  if (framing.kind === 'chunked') return reader.readChunked();
  return reader.readToEnd();
}

const REASONS: Record<number, string> = {
  409: 'Conflict', 412: 'Precondition Failed', 500: 'Internal Server Error', 503: 'Slow Down',
};
const MESSAGES: Record<string, string> = {
  InternalError: 'We encountered an internal error. Please try again.',
  SlowDown: 'Please reduce your request rate.',
  PreconditionFailed: 'At least one of the pre-conditions you specified did not hold',
  ConditionalRequestConflict: 'A conflicting conditional operation is currently in progress against this resource.',
};

function defaultCode(status: number): string {
  if (status === 500) return 'InternalError';
  if (status === 503) return 'SlowDown';
  if (status === 412) return 'PreconditionFailed';
  return `Error${status}`;
}

/** An S3-style error answer. HEAD answers carry no body, as S3's do. */
function s3ErrorResponse(status: number, code: string, method: string, target: string, close: boolean, extra = ''): Buffer {
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  const resource = target.split('?')[0] ?? target;
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${MESSAGES[code] ?? `injected fault ${code}`}</Message>` +
    `${extra}<Resource>${resource}</Resource><RequestId>${requestId}</RequestId></Error>`;
  const body = method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(xml);
  const head = [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Content-Type: application/xml',
    `Content-Length: ${body.length}`,
    `x-amz-request-id: ${requestId}`,
    `x-amz-id-2: ${randomBytes(24).toString('base64')}`,
    `Date: ${new Date().toUTCString()}`,
    'Server: AmazonS3',
    `Connection: ${close ? 'close' : 'keep-alive'}`,
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`), body]);
}

function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      resolve();
    }, ms);
    timers.add(timer);
  });
}

interface Decision {
  kind: FaultKind | 'none';
  at: number;
  status: number;
  code: string;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const upstreamHost = upstream.hostname;
  const upstreamPort = Number(upstream.port || 80);
  const rng = seededRandom(options.seed ?? 1);
  let probability = options.probability ?? 0;
  const kinds = options.kinds ?? FAULT_KINDS;
  const methods = options.methods ? new Set(options.methods.map((m) => m.toUpperCase())) : null;
  const schedule: FaultSpec[] = [...(options.schedule ?? [])];
  const stallHoldMs = options.stallHoldMs ?? 30_000;
  const emulateIfNoneMatch = options.emulateIfNoneMatch ?? false;
  const storedKeys = new Set<string>();
  const started = Date.now();

  const counters: FaultCounters = {
    connections: 0, requests: 0, requestsByMethod: {}, forwarded: 0,
    faults: { reset: 0, error: 0, stall: 0, drop: 0, corrupt: 0 }, faultsByMethod: {}, errorsByStatus: {},
    stallsEndedByClient: 0, stallsEndedByProxy: 0, stallEnds: {}, preconditionFailed: 0, upstreamErrors: 0, clientAborts: 0, rawTunnels: 0,
  };
  const events: FaultEvent[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const bump = (map: Record<string, number>, key: string): void => {
    map[key] = (map[key] ?? 0) + 1;
  };

  const decide = (method: string): Decision => {
    // Always four draws per request, whatever is decided, so the stream stays aligned with request order.
    const [r0, r1, r2, r3] = [rng(), rng(), rng(), rng()];
    const spread = (r: number): number => 0.05 + 0.9 * r;
    const drawnStatus = r3 < 0.5 ? 500 : 503;
    const first = schedule[0];
    if (first && (first.method === undefined || first.method.toUpperCase() === method)) {
      schedule.shift();
      const status = first.status ?? drawnStatus;
      return { kind: first.kind, at: first.at ?? spread(r2), status, code: first.code ?? defaultCode(status) };
    }
    if ((methods === null || methods.has(method)) && r0 < probability) {
      const kind = kinds[Math.min(kinds.length - 1, Math.floor(r1 * kinds.length))] ?? 'error';
      return { kind, at: spread(r2), status: drawnStatus, code: defaultCode(drawnStatus) };
    }
    return { kind: 'none', at: 0, status: 0, code: '' };
  };

  const countFault = (kind: FaultKind, method: string): void => {
    counters.faults[kind]++;
    bump(counters.faultsByMethod, `${method} ${kind}`);
  };

  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  /** One request-response with the upstream on a fresh connection (no keep-alive races with s3rver). */
  const exchange = async (request: Buffer, method: string): Promise<{ response: Buffer; status: number; untilClose: boolean }> => {
    const up = net.connect({ host: upstreamHost, port: upstreamPort });
    track(up);
    const reader = new Reader(up, 'upstream');
    try {
      up.write(request);
      for (;;) {
        const raw = await reader.readHead();
        if (raw === null) throw new PeerGone('upstream');
        const head = parseHead(raw);
        const match = /^HTTP\/1\.[01] (\d{3})/.exec(head.startLine);
        if (!match) throw new ProtocolError(`bad status line ${JSON.stringify(head.startLine.slice(0, 80))}`);
        const status = Number(match[1]);
        if (status >= 100 && status < 200 && status !== 101) continue; // interim (100 Continue): we sent our own
        const framing: Framing = method === 'HEAD' || status === 204 || status === 304 ? { kind: 'length', length: 0 } : bodyFraming(head, true);
        const body = await readBody(reader, framing);
        const untilClose = framing.kind === 'close' || /\bclose\b/i.test(head.header('connection') ?? '');
        return { response: Buffer.concat([raw, body]), status, untilClose };
      }
    } finally {
      up.destroy();
    }
  };

  /** Everything after an unparseable head goes through untouched. */
  const tunnel = (client: net.Socket, reader: Reader, pending: Buffer): void => {
    counters.rawTunnels++;
    const up = net.connect({ host: upstreamHost, port: upstreamPort });
    track(up);
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
    up.write(Buffer.concat([pending, reader.take(reader.buffered)]));
    client.removeAllListeners('data');
    client.pipe(up);
    up.pipe(client);
  };

  const serve = async (client: net.Socket): Promise<void> => {
    counters.connections++;
    const reader = new Reader(client, 'client');
    for (;;) {
      const raw = await reader.readHead();
      if (raw === null) return;
      let head: Head;
      let method: string;
      let target: string;
      let framing: Framing;
      try {
        head = parseHead(raw);
        const match = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(head.startLine);
        if (!match || head.header('upgrade') !== undefined || match[1] === 'CONNECT') throw new ProtocolError('not a plain request');
        method = match[1] ?? '';
        target = match[2] ?? '';
        framing = bodyFraming(head, false);
      } catch (err) {
        if (err instanceof ProtocolError) {
          tunnel(client, reader, raw);
          return;
        }
        throw err;
      }
      const seq = counters.requests++;
      bump(counters.requestsByMethod, method);
      let bytesRead = raw.length;
      const event = (outcome: FaultEvent['outcome'], status: number | null): void => {
        events.push({ seq, method, target, outcome, status, ms: Date.now() - started, bytes: bytesRead, headers: head.headers });
      };
      const bodyLength = framing.kind === 'length' ? framing.length : 1;
      const closeAfter = /\bclose\b/i.test(head.header('connection') ?? '') || head.startLine.endsWith('HTTP/1.0');
      const expectContinue = /100-continue/i.test(head.header('expect') ?? '');
      const decision = decide(method);

      if (decision.kind === 'error' && expectContinue) {
        // The client holds its body until a 100: answer now and close, as a server refusing early does.
        countFault('error', method);
        bump(counters.errorsByStatus, String(decision.status));
        event('error', decision.status);
        client.end(s3ErrorResponse(decision.status, decision.code, method, target, true));
        return;
      }
      if (expectContinue) client.write('HTTP/1.1 100 Continue\r\n\r\n');

      if (decision.kind === 'reset' || decision.kind === 'stall') {
        countFault(decision.kind, method);
        event(decision.kind, null);
        const partial = Math.min(bodyLength, Math.max(bodyLength > 0 ? 1 : 0, Math.floor(decision.at * bodyLength)));
        await reader.fill(partial).catch(() => undefined);
        if (decision.kind === 'reset') {
          if (!client.destroyed) client.resetAndDestroy();
          return;
        }
        // Stop reading: once Node's own buffer is full the kernel's fill up and TCP pushes back on the
        // client. A paused socket no longer sees the client's FIN (it queues behind the unread bytes), so
        // whether the client gave up is checked when the hold ends: read on, and see if the end follows.
        client.pause();
        const gone = reader.gone().then(() => 'client' as const);
        const held = await Promise.race([gone, sleep(stallHoldMs, timers).then(() => 'proxy' as const)]);
        let endedBy = held;
        if (held === 'proxy' && !client.destroyed) {
          client.resume();
          endedBy = await Promise.race([gone, sleep(250, timers).then(() => 'proxy' as const)]);
        }
        if (endedBy === 'client') counters.stallsEndedByClient++;
        else counters.stallsEndedByProxy++;
        bump(counters.stallEnds, `${method} ${endedBy}`);
        if (!client.destroyed) client.resetAndDestroy();
        return;
      }

      let body: Buffer;
      try {
        body = await readBody(reader, framing);
        bytesRead += body.length;
      } catch (err) {
        if (err instanceof PeerGone) {
          counters.clientAborts++;
          return;
        }
        throw err;
      }

      if (decision.kind === 'error') {
        countFault('error', method);
        bump(counters.errorsByStatus, String(decision.status));
        event('error', decision.status);
        client.write(s3ErrorResponse(decision.status, decision.code, method, target, closeAfter));
        if (closeAfter) {
          client.end();
          return;
        }
        continue;
      }

      const key = target.split('?')[0] ?? target;
      if (emulateIfNoneMatch && method === 'PUT' && head.header('if-none-match') === '*' && storedKeys.has(key)) {
        counters.preconditionFailed++;
        event('precondition', 412);
        client.write(s3ErrorResponse(412, 'PreconditionFailed', method, target, closeAfter, '<Condition>If-None-Match</Condition>'));
        if (closeAfter) {
          client.end();
          return;
        }
        continue;
      }

      // Forward whole. Our own 100 Continue went out already, so the upstream must not wait for one.
      const requestHead = expectContinue
        ? Buffer.from(`${[head.startLine, ...head.lines.filter((l) => !/^expect\s*:/i.test(l))].join('\r\n')}\r\n\r\n`, 'latin1')
        : raw;
      if (decision.kind === 'corrupt' && framing.kind === 'length' && body.length > 0) {
        const at = Math.min(body.length - 1, Math.floor(decision.at * body.length));
        body[at] = (body[at] ?? 0) ^ 0xff;
      }
      counters.forwarded++;
      let answer: { response: Buffer; status: number; untilClose: boolean };
      try {
        answer = await exchange(Buffer.concat([requestHead, body]), method);
      } catch {
        counters.upstreamErrors++;
        event('pass', null);
        if (!client.destroyed) client.resetAndDestroy();
        return;
      }
      if (method === 'PUT' && answer.status >= 200 && answer.status < 300) storedKeys.add(key);
      if (decision.kind === 'drop') {
        countFault('drop', method);
        event('drop', null);
        client.destroy();
        return;
      }
      if (decision.kind === 'corrupt') countFault('corrupt', method);
      event(decision.kind === 'corrupt' ? 'corrupt' : 'pass', answer.status);
      if (client.destroyed) {
        counters.clientAborts++;
        return;
      }
      client.write(answer.response);
      if (answer.untilClose || closeAfter) {
        client.end();
        return;
      }
    }
  };

  const server = net.createServer((client) => {
    track(client);
    client.setNoDelay(true);
    serve(client).catch(() => {
      if (!client.destroyed) client.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    counters,
    events,
    schedule: (...specs) => {
      schedule.push(...specs);
    },
    setProbability: (p) => {
      probability = p;
    },
    summary: () => {
      const c = counters;
      const total = c.faults.reset + c.faults.error + c.faults.stall + c.faults.drop + c.faults.corrupt;
      return `requests=${c.requests} ${JSON.stringify(c.requestsByMethod)} forwarded=${c.forwarded} faults=${total} ${JSON.stringify(c.faults)} ` +
        `by_method=${JSON.stringify(c.faultsByMethod)} errors_by_status=${JSON.stringify(c.errorsByStatus)} ` +
        `stall_ends=${JSON.stringify(c.stallEnds)} precondition_failed=${c.preconditionFailed} ` +
        `upstream_errors=${c.upstreamErrors} client_aborts=${c.clientAborts} raw_tunnels=${c.rawTunnels} connections=${c.connections}`;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
