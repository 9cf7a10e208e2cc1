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
import path from 'node:path';
import { Cleanup, ROOT, median, sleep, startBlackHole, startService, type ServiceChild } from './harness.js';
import { runWrk, writeWrkScript, type WrkResult } from './wrk.js';

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`usage: node dist/bench/slow-wal-sync.js --other DIR [--delay-us N] [--rounds N] (missing --${name})`);
  return value;
}

/** The service of `root` with every fsync/fdatasync of its WAL returning `delayUs` late (strace), and nothing else touched. */
function startSlowed(root: string, delayUs: number, s3Port: number, cleanup: Cleanup): Promise<ServiceChild> {
  const env = { S3_BUCKET: 'images', S3_ENDPOINT: `http://127.0.0.1:${s3Port}`, UPLOAD_CONCURRENCY: '4', UPLOAD_STALL_TIMEOUT_MS: '3600000' };
  return startService(cleanup, env, {
    cli: path.join(root, 'bin/image-spool.cjs'),
    wrap: (spoolDir) => ['strace', '-qq', '-f', '--seccomp-bpf', '-o', '/dev/null', '-P', path.join(spoolDir, 'ledger.db-wal'),
      '-e', 'trace=fsync,fdatasync', '-e', `inject=fsync,fdatasync:delay_exit=${delayUs}`],
  });
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
    const services = { this: await startSlowed(builds.this, delayUs, s3Port, cleanup), other: await startSlowed(builds.other, delayUs, s3Port, cleanup) };
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
