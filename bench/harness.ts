/** Shared pieces for the benches: temp dirs, s3rver, the service as a child process, a light HTTP client. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

// The benches run compiled (dist/bench/); the network test imports them from source (bench/).
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.basename(path.dirname(HERE)) === 'dist' ? path.resolve(HERE, '../..') : path.resolve(HERE, '..');
const CLI = path.join(ROOT, 'bin/image-spool.cjs');
const UNIT_FILE = path.join(ROOT, 'deploy/image-spool.service');

/**
 * How deploy/image-spool.service runs node: its `Environment=` settings (SPOOL_DIR aside) and the node flags
 * of `ExecStart=`. Every bench starts the service with these, so the numbers are those of the shipped unit.
 */
export function unitSettings(unitText = readFileSync(UNIT_FILE, 'utf8')): { env: Record<string, string>; nodeFlags: string[] } {
  const env: Record<string, string> = {};
  let nodeFlags: string[] = [];
  for (const raw of unitText.split('\n')) {
    const line = raw.trim();
    const environment = /^Environment=(.*)$/.exec(line);
    if (environment) {
      // One or more KEY=VALUE, each possibly in double quotes.
      for (const m of (environment[1] ?? '').matchAll(/"([^"=]+)=([^"]*)"|([^\s"=]+)=(\S*)/g)) {
        const key = m[1] ?? m[3] ?? '';
        if (key !== 'SPOOL_DIR') env[key] = m[2] ?? m[4] ?? '';
      }
    }
    const exec = /^ExecStart=\S*node\s+(.*)$/.exec(line);
    if (exec) {
      const args = (exec[1] ?? '').split(/\s+/);
      nodeFlags = args.slice(0, args.findIndex((a) => !a.startsWith('-')));
    }
  }
  return { env, nodeFlags };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Cleanups run in reverse order, once, on success, failure or Ctrl-C. */
export class Cleanup {
  private readonly steps: Array<() => Promise<unknown> | unknown> = [];

  add(step: () => Promise<unknown> | unknown): void {
    this.steps.push(step);
  }

  async tempDir(prefix: string, parent = os.tmpdir()): Promise<string> {
    const dir = await mkdtemp(path.join(parent, prefix));
    this.add(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop() as () => Promise<unknown> | unknown;
      try {
        await step();
      } catch (err) {
        console.error('cleanup step failed:', err);
      }
    }
  }
}

export interface BenchS3 {
  port: number;
  bucket: string;
  list(prefix: string): Promise<_Object[]>;
}

/** s3rver on 127.0.0.1 with one bucket, in this process. */
export async function startS3(cleanup: Cleanup, bucket = 'images'): Promise<BenchS3> {
  const dir = await cleanup.tempDir('bench-s3-');
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port } = await server.run();
  cleanup.add(() => server.close());
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  cleanup.add(() => client.destroy());
  return {
    port, bucket,
    async list(prefix) {
      const out: _Object[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        out.push(...(page.Contents ?? []));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
  };
}

/**
 * A TCP server that accepts connections and never answers: as S3 endpoint, every upload stalls after its
 * claim, so a fixed UPLOAD_CONCURRENCY of uploads sits idle in every service alike, whatever its backlog.
 */
export async function startBlackHole(cleanup: Cleanup): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.add(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as net.AddressInfo).port;
}

export interface ServiceChild {
  pid: number;
  baseUrl: string;
  spoolDir: string;
  /** Milliseconds from spawn to the "listening" log line (start-up recovery included). */
  startMs: number;
  /** Number of "upload ok" log lines so far. */
  uploaded(): number;
  /** How the process ended ("exit code 1", "signal SIGKILL"), or null while it runs. */
  exited(): string | null;
  logTail(lines: number): string;
  stop(): Promise<void>;
}

/**
 * The only child process of `parent`: the service a wrapper (strace) started. From
 * /proc/PID/task/PID/children, or by scanning every process's parent where the kernel lacks that file.
 */
export function onlyChildOf(parent: number): number {
  try {
    const children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (children.length === 1) return Number(children[0]);
  } catch { /* kernel without /proc/<pid>/task/<tid>/children: scan */ }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) return Number(entry);
    } catch { /* exited meanwhile */ }
  }
  throw new Error(`no child of pid ${parent} found`);
}

export interface StartOptions {
  /** Another build's bin/image-spool.cjs (bench/slow-wal-sync.ts compares two). */
  cli?: string;
  /** Runs the service under this command (strace ...), given the spool directory; pid and stop then mean the service. */
  wrap?: (spoolDir: string) => string[];
}

/** Runs `node bin/image-spool.cjs serve` with `env`; resolves once it logs its port. */
export async function startService(cleanup: Cleanup, env: Record<string, string>, options: StartOptions = {}): Promise<ServiceChild> {
  const spoolDir = env['SPOOL_DIR'] ?? await cleanup.tempDir('bench-spool-');
  const unit = unitSettings();
  const argv = [...(options.wrap?.(spoolDir) ?? []), process.execPath, ...unit.nodeFlags, options.cli ?? CLI, 'serve'];
  const child: ChildProcess = spawn(argv[0] as string, argv.slice(1), {
    env: {
      PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', SPOOL_DIR: spoolDir,
      AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // As deploy/image-spool.service runs it (UV_THREADPOOL_SIZE and the memory settings; see docs/BENCHMARKS.md).
      ...unit.env,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawnedAt = performance.now();
  let exitedHow: string | null = null;
  const exited = new Promise<void>((resolve) => child.once('exit', (code, sig) => {
    exitedHow = sig === null ? `exit code ${code ?? '?'}` : `signal ${sig}`;
    resolve();
  }));
  let running = true;
  void exited.then(() => { running = false; });
  let pid = child.pid as number;
  // Wrapped, the signals go to the service: strace killed would leave it running.
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(pid, name);
    } catch { /* already gone */ }
  };
  const stop = async (): Promise<void> => {
    if (!running) return;
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  cleanup.add(stop);
  const lines: string[] = [];
  let uploads = 0;
  let partial = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start:\n${lines.join('\n')}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length > 2000) lines.splice(0, 1000);
        if (line.includes('"msg":"upload ok"')) uploads++;
        const match = /"port":(\d+)[^\n]*image-spool listening/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`service exited before listening:\n${lines.join('\n')}`));
    });
  });
  if (options.wrap) pid = onlyChildOf(pid);
  return {
    pid,
    baseUrl: `http://127.0.0.1:${port}`,
    spoolDir,
    startMs: performance.now() - spawnedAt,
    uploaded: () => uploads,
    exited: () => exitedHow,
    logTail: (n) => lines.slice(-n).join('\n'),
    stop,
  };
}

/** Polls until `check` is true; throws with `what` after `timeoutMs`. */
export async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** `bytes` random bytes that start like a JPEG (FF D8 FF E0), so the service's magic-byte check accepts them. */
export function fakeJpeg(bytes: number): Buffer {
  const body = randomBytes(bytes);
  body.set([0xff, 0xd8, 0xff, 0xe0], 0);
  return body;
}

const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

export interface PostOutcome {
  status: number;
  ms: number;
}

/**
 * POST /image as multipart (device_id, then image) with node:http: the body is written as the given
 * buffers, so the client copies nothing and 150 concurrent posts stay cheap on the bench side.
 */
export function postImage(baseUrl: string, deviceId: string, imageParts: Buffer[]): Promise<PostOutcome> {
  const boundary = `bench${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\n${deviceId}\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const parts = [head, ...imageParts, tail];
  const length = parts.reduce((n, p) => n + p.length, 0);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}/image`, {
      method: 'POST', agent,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(length) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const p of parts) req.write(p);
    req.end();
  });
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes, from /proc/PID/status. */
export function readRss(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** CPU seconds (user + system, all threads) a process has used, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' '); // the process name may itself hold ') '
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/**
 * Waits until every process used at most `maxShare` of a core over one `windowMs` (background work after a
 * burst: metadata, checkpoints, writeback); false if that did not happen within `timeoutMs`.
 */
export async function waitQuiet(pids: number[], o = { windowMs: 500, maxShare: 0.06, timeoutMs: 30_000 }): Promise<boolean> {
  const deadline = performance.now() + o.timeoutMs;
  while (performance.now() < deadline) {
    const before = pids.map(cpuSeconds);
    await sleep(o.windowMs);
    if (pids.every((pid, i) => cpuSeconds(pid) - (before[i] as number) <= (o.maxShare * o.windowMs) / 1000)) return true;
  }
  return false;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? NaN;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** One line of the final table. */
export interface Row {
  bench: string;
  metric: string;
  spool: string;
  target: string;
  spoolResult: string;
  rclone: string;
  rcloneResult: string;
  /** For the summary: the same-run baseline the measurement is compared with, and the ratio. */
  baseline?: string;
  ratio?: string;
}

/** A row with a target, compared with a baseline measured in the same run. */
/** `pass: null` records a ratio without judging it (target "info"). */
export function ratioRow(bench: string, metric: string, o: { measured: string; baseline: string; ratio: number; target: string; pass: boolean | null; digits?: number }): Row {
  return {
    bench, metric, spool: o.measured, target: o.target, spoolResult: o.pass === null ? '' : o.pass ? 'PASS' : 'FAIL', rclone: '-', rcloneResult: '',
    baseline: o.baseline, ratio: `${o.ratio.toFixed(o.digits ?? 2)}x`,
  };
}

/** A row with a target and no baseline (an absolute bound, such as a latency or a peak RSS). */
export function targetRow(bench: string, metric: string, measured: string, target: string, pass: boolean): Row {
  return { bench, metric, spool: measured, target, spoolResult: pass ? 'PASS' : 'FAIL', rclone: '-', rcloneResult: '' };
}

export function infoRow(bench: string, metric: string, measured: string): Row {
  return { bench, metric, spool: measured, target: 'info', spoolResult: '', rclone: '-', rcloneResult: '' };
}

/** The summary: every row with a target or a ratio, as name, measured, baseline, ratio, target, PASS/FAIL. */
export function printRatioTable(rows: Row[]): string {
  const header = ['name', 'measured', 'baseline (same run)', 'ratio', 'target', 'result'];
  const cells = rows.filter((r) => (r.target !== 'info' && r.spoolResult !== '') || r.ratio !== undefined)
    .map((r) => [`${r.bench}: ${r.metric}`, r.spool, r.baseline ?? '-', r.ratio ?? '-', r.target, r.spoolResult]);
  return formatTable([header, ...cells]);
}

function formatTable(all: string[][]): string {
  const widths = (all[0] as string[]).map((_, i) => Math.max(...all.map((c) => (c[i] as string).length)));
  const line = (c: string[]): string => `| ${c.map((s, i) => s.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(all[0] as string[]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...all.slice(1).map(line)].join('\n');
}

export function printTable(rows: Row[]): string {
  const header = ['bench', 'metric', 'image-spool', 'target', 'result', 'rclone', 'result'];
  const cells = (r: Row): string[] => [r.bench, r.metric, r.spool, r.target, r.spoolResult, r.rclone, r.rcloneResult];
  return formatTable([header, ...rows.map(cells)]);
}
