import { spawn } from 'node:child_process';

export interface HealthWatch {
  /** Answers that came back 200. */
  answered: number;
  /** Polls that failed: an error, a non-200, or no answer within the poll's own deadline. */
  failed: number;
  /** The slowest poll, in ms (a poll that failed counts with the time it took to fail). */
  maxMs: number;
  /** Every poll's time, in ms, in order. */
  latencies: number[];
}

/**
 * The poller, in a process of its own: in the test's process, its own pauses (garbage collection, spawning
 * curl, synchronous SQLite reads) would be counted as the service's. Polls GET /healthz over one keep-alive
 * connection, `gapMs` apart, each with a deadline; prints its numbers when its stdin closes.
 */
const POLLER = `
const http = require('node:http');
const [url, gapMs, deadlineMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const stats = { answered: 0, failed: 0, maxMs: 0, latencies: [] };
let stopped = false;
process.stdin.on('data', () => {});
process.stdin.on('end', () => { stopped = true; });
function poll() {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const done = (ok) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      stats.maxMs = Math.max(stats.maxMs, ms);
      stats.latencies.push(Math.round(ms * 10) / 10);
      if (ok) stats.answered++; else stats.failed++;
      resolve();
    };
    const req = http.get(url, { agent, timeout: deadlineMs }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200));
      res.on('error', () => done(false));
    });
    req.on('timeout', () => req.destroy(new Error('deadline')));
    req.on('error', () => done(false));
  });
}
(async () => {
  await poll(); // the connection: not counted
  Object.assign(stats, { answered: 0, failed: 0, maxMs: 0, latencies: [] });
  process.stdout.write('ready\\n');
  while (!stopped) {
    await poll();
    await new Promise((resolve) => setTimeout(resolve, gapMs));
  }
  process.stdout.write(JSON.stringify(stats));
  agent.destroy();
})();
`;

/**
 * Polls the service's /healthz until stopped, recording the slowest answer: while the service's event loop
 * is blocked, every answer waits. A poll gives up after `deadlineMs`, so a hung service shows as failures
 * instead of hanging the test. Resolves once the poller has its connection (its first poll, not counted).
 */
export async function watchHealth(baseUrl: string, o: { gapMs?: number; deadlineMs?: number } = {}): Promise<{ stop(): Promise<HealthWatch> }> {
  const child = spawn(process.execPath, ['-e', POLLER, `${baseUrl}/healthz`, String(o.gapMs ?? 10), String(o.deadlineMs ?? 3000)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.startsWith('ready\n')) resolve();
    });
    void exited.then(() => reject(new Error(`health poller exited before its first poll: ${out}`)));
  });
  return {
    async stop() {
      child.stdin.end();
      await exited;
      return JSON.parse(out.slice('ready\n'.length)) as HealthWatch;
    },
  };
}
