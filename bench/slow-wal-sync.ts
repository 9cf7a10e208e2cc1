/**
 * Two builds under a slow WAL fsync, side by side: `node dist/bench/slow-wal-sync.js --other DIR
 * [--delay-us N] [--rounds N]`, where DIR is another checkout, built, with node_modules (for example a
 * `git worktree` of an older commit, its node_modules a symlink to this one's).
 *
 * Each service runs under strace, which delays the return of every fsync/fdatasync of its
 * `ledger.db-wal` by `--delay-us` (default 10,000: a busy disk) and touches nothing else (`-P`, with
 * `--seccomp-bpf` so that other syscalls never stop at the tracer). wrk posts small distinct JPEGs, 150
 * connections, 6 s rounds, alternating the builds; uploads stall on an S3 endpoint that never answers, as in
 * the scale bench. Not part of `npm run bench`: it compares builds, which one checkout cannot do by itself.
 * Written for src/ledger/wal-sync.ts (docs/BENCHMARKS.md, issue 7, fifth session).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Cleanup, ROOT, median, sleep, startBlackHole, unitSettings } from './harness.js';
import { runWrk, writeWrkScript, type WrkResult } from './wrk.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`usage: node dist/bench/slow-wal-sync.js --other DIR [--delay-us N] [--rounds N] (missing --${name})`);
  return value;
}

interface Traced {
  child: ChildProcess;
  baseUrl: string;
}

async function startTraced(root: string, delayUs: number, s3Port: number, cleanup: Cleanup): Promise<Traced> {
  const spool = await cleanup.tempDir('slow-wal-sync-');
  const unit = unitSettings();
  const args = ['-qq', '-f', '--seccomp-bpf', '-o', '/dev/null', '-P', path.join(spool, 'ledger.db-wal'),
    '-e', 'trace=fsync,fdatasync', '-e', `inject=fsync,fdatasync:delay_exit=${delayUs}`,
    process.execPath, ...unit.nodeFlags, path.join(root, 'bin/image-spool.cjs'), 'serve'];
  const child = spawn('strace', args, {
    env: {
      PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', SPOOL_DIR: spool,
      AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      S3_BUCKET: 'images', S3_ENDPOINT: `http://127.0.0.1:${s3Port}`, UPLOAD_CONCURRENCY: '4', UPLOAD_STALL_TIMEOUT_MS: '3600000',
      ...unit.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The service, not strace: killed, strace would leave it running, its stalled uploads holding the black hole open.
  cleanup.add(() => {
    const service = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const pid of service) process.kill(Number(pid), 'SIGKILL');
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"port":(\d+)[^\n]*image-spool listening/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr?.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.once('exit', (code) => reject(new Error(`${root}: exited (${code}) before listening:\n${out}`)));
  });
  return { child, baseUrl: `http://127.0.0.1:${port}` };
}

const describe = (runs: WrkResult[]): string =>
  `${median(runs.map((r) => r.ackedPerSec)).toFixed(0)}/s (${runs.map((r) => r.ackedPerSec.toFixed(0)).join(', ')}), p99 ${median(runs.map((r) => r.p99Ms)).toFixed(0)} ms`;

async function main(): Promise<void> {
  const builds = { this: ROOT, other: path.resolve(arg('other')) };
  const delayUs = Number(arg('delay-us', '10000'));
  const rounds = Number(arg('rounds', '4'));
  const cleanup = new Cleanup();
  try {
    const s3Port = await startBlackHole(cleanup);
    const script = await writeWrkScript(cleanup);
    const services = { this: await startTraced(builds.this, delayUs, s3Port, cleanup), other: await startTraced(builds.other, delayUs, s3Port, cleanup) };
    for (const s of Object.values(services)) await runWrk({ baseUrl: s.baseUrl, script, seconds: 2, connections: 150 }); // JIT warm-up
    const results: Record<'this' | 'other', WrkResult[]> = { this: [], other: [] };
    for (let round = 0; round < rounds; round++) {
      for (const key of round % 2 === 0 ? ['this', 'other'] as const : ['other', 'this'] as const) {
        await sleep(1000);
        const r = await runWrk({ baseUrl: services[key].baseUrl, script, seconds: 6, connections: 150 });
        results[key].push(r);
        console.log(`round ${round + 1} ${key}: ${r.ackedPerSec.toFixed(0)}/s, p50 ${r.p50Ms.toFixed(0)} / p99 ${r.p99Ms.toFixed(0)} ms, non-202 ${r.other}, socket errors ${r.socketErrors}`);
      }
    }
    const ratio = median(results.this.map((r) => r.ackedPerSec)) / median(results.other.map((r) => r.ackedPerSec));
    console.log(`WAL fsync +${delayUs / 1000} ms: this build (${builds.this}) ${describe(results.this)}; other (${builds.other}) ${describe(results.other)}; ratio ${ratio.toFixed(2)}x`);
  } finally {
    await cleanup.run();
  }
}

await main();
