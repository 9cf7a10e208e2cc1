/**
 * `npm run bench` (builds first) or `node dist/bench/run.js [--quick] [--soak] [--only NAME[,NAME...]]`.
 * Runs each bench with its own s3rver, service process and temp dirs, prints the detailed table, then one
 * summary of every targeted figure (measured, same-run baseline, ratio, target, PASS/FAIL), and saves both
 * under bench/out/. The 30-minute soak runs only with --soak (--quick --soak: a 2-minute soak). The 10-minute
 * hostile soak (bench/hostile-soak.ts) runs in every full run (--quick: 1 minute); the container bench
 * (bench/container-start.ts, podman as root) last.
 * Exit code 0 when the benches ran (targets may still FAIL: read the table), 1 on error.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAdaptiveBench } from './adaptive-link.js';
import { runBwlimitLatency } from './bwlimit-latency.js';
import { runContainerStart } from './container-start.js';
import { runEgress } from './egress.js';
import { runHostileSoak } from './hostile-soak.js';
import { Cleanup, printRatioTable, printTable, unitSettings, type Row } from './harness.js';
import { runIngestMemory } from './ingest-memory.js';
import { runLedgerScale } from './ledger-scale.js';
import { runRttFill, runRttFillSmall } from './rtt-fill.js';
import { runSeedScript } from './seed-script.js';
import { runSmallImages } from './small-images.js';
import { runSoak } from './soak.js';
import { runStatsScale } from './stats-scale.js';

// The bench's own S3 client would print the SDK's Node 22 notice (see README) in the middle of the output.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT_DIR = path.join(ROOT, 'bench/out');
const STAMP = new Date().toISOString().replace(/[:.]/g, '-');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const soak = args.includes('--soak');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',') : undefined;

const IMAGE_BYTES = 4_000_000;
type Bench = (cleanup: Cleanup) => Promise<Row[]>;
// In run order. `stats` is part of `scale` (same million-row ledger); alone it builds its own. `scale` before
// `small` and `seed`: they delete ~100,000 files, and ext4 without a journal makes creating files near them
// slower for minutes (bench/ledger-scale.ts), which would be measured as a cost of the big ledger. `ingest`
// before `scale`: after scale frees its million-row ledger, the page-cache disk baseline ran at 203-225
// files/s (2026-11-24 reference run), the top of its range, while the service writes around the page cache.
const BENCHES: Record<string, Bench> = {
  egress: (c) => runEgress(quick
    ? { images: 7, afterIdleImages: 3, imageBytes: IMAGE_BYTES, idleMs: 3_000, traceDir: OUT_DIR }
    : { images: 25, afterIdleImages: 5, imageBytes: IMAGE_BYTES, idleMs: 10_000, traceDir: OUT_DIR }, c),
  ingest: (c) => runIngestMemory({ posts: 150, imageBytes: IMAGE_BYTES, rounds: quick ? 2 : 5 }, c),
  scale: (c) => runLedgerScale({
    rows: quick ? 60_000 : 1_000_000, queued: quick ? 6_000 : 100_000, claims: quick ? 200 : 2_000,
    wrkRounds: quick ? 2 : 6, wrkSeconds: quick ? 2 : 6, warmupSeconds: quick ? 1 : 2, plansFile: path.join(OUT_DIR, `plans-${STAMP}.md`),
  }, c),
  small: (c) => runSmallImages({ rounds: quick ? 2 : 5, seconds: quick ? 2 : 6, connections: 150, warmupSeconds: quick ? 1 : 2 }, c),
  seed: (c) => runSeedScript({ identical: quick ? 600 : 100_000, distinct: quick ? 300 : 10_000, parallel: 150 }, c),
  rtt: async (c) => {
    const rows = await runRttFill({ images: quick ? 20 : 40, imageBytes: IMAGE_BYTES, rttMs: 60 }, c);
    await c.run();
    // BENCH_SMALL_BYTES, BENCH_SMALL_N and BENCH_SMALL_CONC (e.g. "4,auto,32") vary the small-image case by hand.
    return [...rows, ...(await runRttFillSmall({
      images: Number(process.env['BENCH_SMALL_N'] ?? (quick ? 160 : 700)), imageBytes: Number(process.env['BENCH_SMALL_BYTES'] ?? 250_000), rttMs: 60,
    }, c))];
  },
  bwlimit: (c) => runBwlimitLatency({ imageBytes: IMAGE_BYTES, spareImages: quick ? 6 : 10, timetableSwitch: !quick }, c),
  adaptive: (c) => runAdaptiveBench(c, OUT_DIR, quick),
  stats: () => runStatsScale(quick ? 100_000 : 1_000_000),
  soak: (c) => runSoak({ minutes: quick ? 2 : 30, sampleMs: quick ? 1_000 : 5_000 }, c),
  // After the disk benches: the longest of the default benches, and its gigabytes of writes would disturb one.
  hostile: (c) => runHostileSoak({ minutes: quick ? 1 : 10 }, c),
  // After every timed bench: the image build compiles better-sqlite3 (both cores for ~2 min).
  container: (c) => runContainerStart({ runs: quick ? 1 : 3 }, c),
};

function selected(name: string): boolean {
  if (only !== undefined) return only.includes(name);
  if (name === 'stats') return false; // measured inside `scale`
  if (name === 'soak') return soak;
  return true;
}

if (only !== undefined && (only.length === 0 || only.some((n) => !(n in BENCHES)))) {
  console.error(`usage: node dist/bench/run.js [--quick] [--soak] [--only ${Object.keys(BENCHES).join('|')}[,...]]`);
  process.exit(2);
}

function machine(): string {
  const kernel = os.release();
  return `${os.availableParallelism()} cpus (as nproc), ${os.cpus()[0]?.model ?? 'unknown cpu'}, kernel ${kernel}, node ${process.version}, ` +
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`;
}

/** The commit measured, and whether the work tree differs from it: a figure is only as good as its commit. */
function commit(): string {
  const git = (args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  const head = git(['rev-parse', '--short', 'HEAD']);
  if (head === '') return 'commit unknown (not a git checkout)';
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', 'src', 'bench', 'migrations', 'package.json', 'deploy']);
  return `commit ${head}${dirty === '' ? '' : ' with uncommitted changes to src/bench/migrations/deploy'}`;
}

/** 1, 5 and 15 minute load averages: other work on a 2-core machine moves the numbers. */
function loadavg(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const timings: string[] = [];
  const cleanup = new Cleanup();
  process.once('SIGINT', () => {
    void cleanup.run().finally(() => process.exit(130));
  });
  const started = Date.now();
  const startLoad = loadavg();
  const unit = unitSettings();
  const mode = `${quick ? ' (--quick: shortened, not the reference numbers)' : ''}${soak ? ' --soak' : ''}`;
  console.log(`image-spool bench${mode}: ${commit()}; ${machine()}`);
  console.log(`service run as deploy/image-spool.service runs it: ${JSON.stringify(unit.env)} node flags ${JSON.stringify(unit.nodeFlags)}`);
  await mkdir(OUT_DIR, { recursive: true });
  try {
    for (const [name, bench] of Object.entries(BENCHES)) {
      if (!selected(name)) continue;
      const t = Date.now();
      const load = loadavg();
      rows.push(...(await bench(cleanup)));
      await cleanup.run();
      timings.push(`${name} ${((Date.now() - t) / 1000).toFixed(0)} s (load ${load} -> ${loadavg()})`);
    }
  } finally {
    await cleanup.run();
  }
  const table = printTable(rows);
  const summary = printRatioTable(rows);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const footer = `bench finished in ${seconds} s; load average at start ${startLoad}, at end ${loadavg()}\nper bench: ${timings.join('; ')}`;
  console.log(`\n${table}\n\nSummary (every figure with a target; baselines measured in the same run):\n\n${summary}\n\n${footer}`);
  const header = `image-spool bench ${new Date().toISOString()}${mode}\n${commit()}\n${machine()}\nunit settings: ${JSON.stringify(unit)}\n\n`;
  await writeFile(path.join(OUT_DIR, `bench-${STAMP}.md`), `${header}${table}\n\n${summary}\n\n${footer}\n`);
}

main().catch((err: unknown) => {
  console.error('bench failed:', err);
  process.exit(1);
});
