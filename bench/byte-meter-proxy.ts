/**
 * A byte-counting TCP proxy (plain node:net): listens on 127.0.0.1:0, forwards every connection to
 * 127.0.0.1:<target>, and timestamps each chunk the client sends (client -> server only).
 *
 * The client side is read eagerly, without backpressure from the upstream, so a timestamp is the moment
 * the bytes left the client's socket, not the moment the upstream found time to take them. The proxy runs
 * in its own worker thread (startMeterProxy) so that work on the bench's main thread (s3rver, HTTP
 * clients, GC) cannot delay its reads and fake a burst by delivering several chunks at once. That thread
 * asks for a higher CPU priority (nice -10, thread-only on Linux; needs root, skipped otherwise) and
 * reports how late its own 1 ms tick ever ran, which bounds how late any timestamp can be.
 */
import net from 'node:net';
import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/** Milliseconds on the worker's monotonic clock. */
function now(): number {
  return performance.now();
}

/** Chunks seen since the last reset: parallel arrays of time (ms) and size (bytes). */
export interface Samples {
  t: Float64Array;
  bytes: Float64Array;
  /** Worst lateness of the meter thread's 1 ms tick over the same period, ms: how late a timestamp can be. */
  meterLagMaxMs: number;
  /** Whether the meter thread got its higher CPU priority. */
  meterNiced: boolean;
  /** Meter-thread stalls over 5 ms: when the thread woke up (ms) and how late its tick was (ms). */
  stalls: Array<[number, number]>;
}

const STALL_REPORT_MS = 5;

class Recorder {
  private t: number[] = [];
  private bytes: number[] = [];
  private lagMax = 0;
  private stalls: Array<[number, number]> = [];
  private readonly niced: boolean;

  constructor() {
    let last = now();
    setInterval(() => {
      const t = now();
      const late = t - last - 1;
      last = t;
      this.lagMax = Math.max(this.lagMax, late);
      if (late > STALL_REPORT_MS) this.stalls.push([t, late]);
    }, 1);
    let niced = true;
    try {
      os.setPriority(-10);
    } catch {
      niced = false;
    }
    this.niced = niced;
  }

  record(n: number): void {
    this.t.push(now());
    this.bytes.push(n);
  }

  /** Returns everything recorded so far and starts a new recording. */
  take(): Samples {
    const out: Samples = {
      t: Float64Array.from(this.t), bytes: Float64Array.from(this.bytes),
      meterLagMaxMs: this.lagMax, meterNiced: this.niced, stalls: this.stalls,
    };
    this.t = [];
    this.bytes = [];
    this.lagMax = 0;
    this.stalls = [];
    return out;
  }
}

function listen(targetPort: number, recorder: Recorder): Promise<net.Server> {
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      recorder.record(chunk.length);
      upstream.write(chunk); // buffered in memory if the upstream is slow: no backpressure by design
    });
    client.on('end', () => upstream.end());
    upstream.pipe(client);
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---- worker side -------------------------------------------------------------------------------------

type Request = { type: 'take' } | { type: 'close' };
type Reply = { type: 'listening'; port: number } | { type: 'samples'; samples: Samples } | { type: 'closed' };

interface ProxyWorkerData {
  role: 'byte-meter-proxy';
  targetPort: number;
}

function isProxyWorkerData(data: unknown): data is ProxyWorkerData {
  return typeof data === 'object' && data !== null && (data as { role?: unknown }).role === 'byte-meter-proxy';
}

if (!isMainThread && isProxyWorkerData(workerData) && parentPort) {
  const port = parentPort;
  const recorder = new Recorder();
  const server = await listen(workerData.targetPort, recorder);
  port.postMessage({ type: 'listening', port: (server.address() as net.AddressInfo).port } satisfies Reply);
  port.on('message', (msg: Request) => {
    if (msg.type === 'take') {
      const samples = recorder.take();
      port.postMessage({ type: 'samples', samples } satisfies Reply); // copied: a few hundred KB at most
    } else {
      server.close();
      server.unref();
      port.postMessage({ type: 'closed' } satisfies Reply);
      port.close();
    }
  });
}

// ---- main-thread handle ------------------------------------------------------------------------------

export interface MeterProxy {
  /** Port to point a client at instead of the target. */
  port: number;
  /** Chunks recorded since the previous take() (or since start); recording continues afresh. */
  take(): Promise<Samples>;
  close(): Promise<void>;
}

export async function startMeterProxy(targetPort: number): Promise<MeterProxy> {
  const data: ProxyWorkerData = { role: 'byte-meter-proxy', targetPort };
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  const next = (type: Reply['type']): Promise<Reply> => new Promise((resolve, reject) => {
    const onMessage = (msg: Reply): void => {
      if (msg.type !== type) return;
      worker.off('message', onMessage);
      worker.off('error', reject);
      resolve(msg);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  });
  const listening = await next('listening');
  if (listening.type !== 'listening') throw new Error('unreachable');
  return {
    port: listening.port,
    async take() {
      const reply = next('samples');
      worker.postMessage({ type: 'take' } satisfies Request);
      const msg = await reply;
      if (msg.type !== 'samples') throw new Error('unreachable');
      return msg.samples;
    },
    async close() {
      const closed = next('closed');
      worker.postMessage({ type: 'close' } satisfies Request);
      await closed;
      await worker.terminate();
    },
  };
}

// ---- window analysis ---------------------------------------------------------------------------------

export interface WindowStats {
  /** Time of the first and last chunk (the busy period), ms on the proxy's clock. */
  start: number;
  end: number;
  totalBytes: number;
  /** Bytes in each full window of the grid; the grid starts at the first chunk. */
  windows: number[];
}

/**
 * Sums bytes in back-to-back windows of `windowMs` on a fixed grid whose origin is the first chunk. Only
 * windows that end at or before the last chunk are kept: the trailing partial window is dropped. Because
 * the grid starts with a byte, the first window is full and is kept: any start-up burst lands in it.
 */
export function gridWindows(samples: Samples, windowMs: number): WindowStats {
  const n = samples.t.length;
  if (n === 0) return { start: NaN, end: NaN, totalBytes: 0, windows: [] };
  const start = samples.t[0] as number;
  const end = samples.t[n - 1] as number;
  const full = Math.floor((end - start) / windowMs);
  const windows = new Array<number>(full).fill(0);
  let totalBytes = 0;
  for (let i = 0; i < n; i++) {
    const b = samples.bytes[i] as number;
    totalBytes += b;
    const k = Math.floor(((samples.t[i] as number) - start) / windowMs);
    if (k < full) windows[k] = (windows[k] as number) + b;
  }
  return { start, end, totalBytes, windows };
}

/**
 * Largest number of bytes in any window [s, s + windowMs) with s on a `stepMs` grid from the first chunk,
 * and the window still ending by the last chunk. Informational: stricter than the back-to-back grid.
 */
export function slidingMax(samples: Samples, windowMs: number, stepMs: number): number {
  const fine = gridWindows(samples, stepMs);
  const per = Math.round(windowMs / stepMs);
  let sum = 0;
  let max = 0;
  for (let i = 0; i < fine.windows.length; i++) {
    sum += fine.windows[i] as number;
    if (i >= per) sum -= fine.windows[i - per] as number;
    if (i >= per - 1) max = Math.max(max, sum);
  }
  return max;
}
