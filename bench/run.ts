/**
 * `npm run bench` (builds first) or `node dist/bench/run.js [--quick] [--only egress|ingest|rtt|bwlimit|adaptive|stats]`.
 * Runs each bench with its own s3rver, service process and temp dirs, prints one table, and saves it
 * under bench/out/. Exit code 0 when the benches ran (targets may still FAIL: read the table), 1 on error.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAdaptiveBench } from './adaptive-link.js';
import { runBwlimitLatency } from './bwlimit-latency.js';
import { runEgress } from './egress.js';
import { Cleanup, printTable, type Row } from './harness.js';
import { runIngestMemory } from './ingest-memory.js';
import { runRttFill, runRttFillSmall } from './rtt-fill.js';
import { runStatsScale } from './stats-scale.js';

// The bench's own S3 client would print the SDK's Node 22 notice (see README) in the middle of the output.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT_DIR = path.join(ROOT, 'bench/out');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? args[onlyIndex + 1] : undefined;
if (only !== undefined && only !== 'egress' && only !== 'ingest' && only !== 'rtt' && only !== 'bwlimit' && only !== 'adaptive' && only !== 'stats') {
  console.error('usage: node dist/bench/run.js [--quick] [--only egress|ingest|rtt|bwlimit|adaptive|stats]');
  process.exit(2);
}

const IMAGE_BYTES = 4_000_000;
const egressOptions = quick
  ? { images: 8, afterIdleImages: 3, imageBytes: IMAGE_BYTES, idleMs: 5_000, traceDir: OUT_DIR }
  : { images: 25, afterIdleImages: 5, imageBytes: IMAGE_BYTES, idleMs: 10_000, traceDir: OUT_DIR };
const ingestOptions = { posts: quick ? 50 : 150, imageBytes: IMAGE_BYTES };
const rttOptions = { images: quick ? 20 : 40, imageBytes: IMAGE_BYTES, rttMs: 60 };
// BENCH_SMALL_BYTES, BENCH_SMALL_N and BENCH_SMALL_CONC (e.g. "4,auto,32") vary the small-image case by hand.
const rttSmallOptions = { images: Number(process.env['BENCH_SMALL_N'] ?? (quick ? 300 : 700)), imageBytes: Number(process.env['BENCH_SMALL_BYTES'] ?? 250_000), rttMs: 60 };
const bwlimitOptions = { imageBytes: IMAGE_BYTES, spareImages: quick ? 6 : 10 };

function machine(): string {
  const kernel = os.release();
  return `${os.availableParallelism()} cpus (as nproc), ${os.cpus()[0]?.model ?? 'unknown cpu'}, kernel ${kernel}, node ${process.version}, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`;
}

/** 1, 5 and 15 minute load averages: other work on a 2-core machine moves the numbers. */
function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const cleanup = new Cleanup();
  process.once('SIGINT', () => {
    void cleanup.run().finally(() => process.exit(130));
  });
  const started = Date.now();
  const startLoad = loadavg();
  console.log(`image-spool bench${quick ? ' (--quick: shortened, not the reference numbers)' : ''}: ${machine()}`);
  try {
    if (only === undefined || only === 'egress') {
      rows.push(...(await runEgress(egressOptions, cleanup)));
      await cleanup.run();
    }
    if (only === undefined || only === 'ingest') {
      rows.push(...(await runIngestMemory(ingestOptions, cleanup)));
      await cleanup.run();
    }
    if (only === undefined || only === 'rtt') {
      rows.push(...(await runRttFill(rttOptions, cleanup)));
      await cleanup.run();
      rows.push(...(await runRttFillSmall(rttSmallOptions, cleanup)));
      await cleanup.run();
    }
    if (only === undefined || only === 'bwlimit') {
      rows.push(...(await runBwlimitLatency(bwlimitOptions, cleanup)));
      await cleanup.run();
    }
    if (only === undefined || only === 'stats') {
      rows.push(...(await runStatsScale(quick ? 100_000 : 1_000_000)));
    }
    if (only === undefined || only === 'adaptive') {
      rows.push(...(await runAdaptiveBench(cleanup, OUT_DIR, quick)));
      await cleanup.run();
    }
  } finally {
    await cleanup.run();
  }
  const table = printTable(rows);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const footer = `bench finished in ${seconds} s; load average at start ${startLoad}, at end ${loadavg()}`;
  console.log(`\n${table}\n\n${footer}`);
  await mkdir(OUT_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const header = `image-spool bench ${new Date().toISOString()}${quick ? ' --quick' : ''}\n${machine()}\n\n`;
  await writeFile(path.join(OUT_DIR, `bench-${stamp}.md`), `${header}${table}\n\n${footer}\n`);
}

main().catch((err: unknown) => {
  console.error('bench failed:', err);
  process.exit(1);
});
