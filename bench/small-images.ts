/**
 * Small images at the seed's concurrency (issue 7): `wrk` with 150 connections posting a real 27 kB JPEG,
 * every request distinct (bench/wrk.ts), against three services started side by side:
 * - durable, group commit: the service as shipped;
 * - durable, naive: BENCH_COMMIT_BATCH_MAX=1 (one ledger transaction and WAL fsync per image);
 * - durability off: BENCH_UNSAFE_NO_FSYNC=true (no file, directory or WAL fsync): the baseline.
 * The bench-only switches need NODE_ENV=benchmark (src/config.ts). wrk runs against each in turn, `rounds`
 * times, so all three see the same machine conditions; the ratios compare medians of acked images/s.
 */
import { Cleanup, infoRow, median, ratioRow, startS3, startService, targetRow, type Row, type ServiceChild } from './harness.js';
import { runWrk, writeWrkScript, wrkMissing, type WrkResult } from './wrk.js';

export interface SmallImagesOptions {
  rounds: number;
  seconds: number;
  connections: number;
  /** wrk run against each service first, unmeasured (JIT, page cache). */
  warmupSeconds: number;
}

const RATIO_TARGET = 0.5;

const VARIANTS = [
  { key: 'unsafe', label: 'durability off (BENCH_UNSAFE_NO_FSYNC)', env: { NODE_ENV: 'benchmark', BENCH_UNSAFE_NO_FSYNC: 'true' } },
  { key: 'group', label: 'durable, group commit (as shipped)', env: {} },
  { key: 'naive', label: 'durable, naive (BENCH_COMMIT_BATCH_MAX=1)', env: { NODE_ENV: 'benchmark', BENCH_COMMIT_BATCH_MAX: '1' } },
] as const;

type Key = (typeof VARIANTS)[number]['key'];

export async function runSmallImages(o: SmallImagesOptions, cleanup: Cleanup): Promise<Row[]> {
  const bench = 'small';
  const missing = wrkMissing();
  if (missing) return [infoRow(bench, 'wrk small-image bench SKIPPED', missing)];
  const s3 = await startS3(cleanup);
  const script = await writeWrkScript(cleanup);
  const services = new Map<Key, ServiceChild>();
  for (const v of VARIANTS) {
    // A small upload budget: uploads go on in the background, as with a real backlog, without taking the CPU.
    services.set(v.key, await startService(cleanup, { S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, UPLOAD_BWLIMIT: '100KB', ...v.env }));
  }
  const results = new Map<Key, WrkResult[]>(VARIANTS.map((v) => [v.key, []]));
  for (const v of VARIANTS) await runWrk({ baseUrl: (services.get(v.key) as ServiceChild).baseUrl, script, seconds: o.warmupSeconds, connections: o.connections }); // JIT warm-up
  for (let round = 0; round < o.rounds; round++) {
    for (const v of VARIANTS) {
      const r = await runWrk({ baseUrl: (services.get(v.key) as ServiceChild).baseUrl, script, seconds: o.seconds, connections: o.connections });
      results.get(v.key)?.push(r);
    }
    console.log(`small round ${round + 1}/${o.rounds}: ${VARIANTS.map((v) => `${v.key} ${results.get(v.key)?.at(-1)?.ackedPerSec.toFixed(0)}/s`).join(', ')}`);
  }
  const batching = new Map<Key, number>();
  for (const v of VARIANTS) batching.set(v.key, await rowsPerCommit(services.get(v.key) as ServiceChild));
  for (const s of services.values()) await s.stop();

  const rate = (k: Key): number => median((results.get(k) ?? []).map((r) => r.ackedPerSec));
  const list = (k: Key): string => (results.get(k) ?? []).map((r) => r.ackedPerSec.toFixed(0)).join(', ');
  const all = [...results.values()].flat();
  const bad = all.reduce((n, r) => n + r.other + r.socketErrors + r.resent, 0);
  const group = rate('group');
  const naive = rate('naive');
  const unsafe = rate('unsafe');
  const lat = (k: Key): string => {
    const rs = results.get(k) ?? [];
    return `${median(rs.map((r) => r.p50Ms)).toFixed(0)} / ${median(rs.map((r) => r.p99Ms)).toFixed(0)} ms`;
  };
  return [
    ratioRow(bench, `${o.connections} conns, distinct 27 kB JPEGs: acked/s durable (group commit) / durability off`, {
      measured: `${group.toFixed(0)}/s (${list('group')})`, baseline: `${unsafe.toFixed(0)}/s (${list('unsafe')})`,
      ratio: group / unsafe, target: `>= ${RATIO_TARGET}x`, pass: group / unsafe >= RATIO_TARGET,
    }),
    { ...infoRow(bench, 'acked/s durable naive (1 transaction + WAL fsync per image) / durability off', `${naive.toFixed(0)}/s (${list('naive')})`),
      baseline: `${unsafe.toFixed(0)}/s`, ratio: `${(naive / unsafe).toFixed(2)}x` },
    { ...infoRow(bench, 'group commit / naive (same run)', `${(group / naive).toFixed(2)}x`), baseline: `${naive.toFixed(0)}/s`, ratio: `${(group / naive).toFixed(2)}x` },
    infoRow(bench, 'rows per ledger transaction: group / naive / durability off', (['group', 'naive', 'unsafe'] as const).map((k) => (batching.get(k) ?? NaN).toFixed(1)).join(' / ')),
    infoRow(bench, 'latency p50 / p99 (median of rounds): group | naive | off', `${lat('group')} | ${lat('naive')} | ${lat('unsafe')}`),
    targetRow(bench, 'answers other than 202, socket errors, resends', `${bad} of ${all.reduce((n, r) => n + r.requests, 0)}`, '= 0', bad === 0),
  ];
}

/** The group-commit batching factor, from the service's own counters. */
async function rowsPerCommit(service: ServiceChild): Promise<number> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return value('image_spool_ledger_committed_rows_total') / value('image_spool_ledger_commit_duration_seconds_count');
}
