/**
 * Hostile soak (issue 18, "Proof"): for `minutes`, 10 honest cameras post 1-4 MB images every 2 s from
 * 127.0.0.1 while, from 127.0.0.2-9, ~100 tricklers hold slow uploads open, 4 loops post ~20 MB JSON bodies,
 * a poison image (HEIC zero-length box, TIFF and JPEG tag bombs) arrives every 2 s, and the malformed-input
 * corpus (bench/hostile/corpus.ts) every 100 ms. /healthz is polled every 100 ms from a process of its own.
 * Then the hostile load stops, the honest backlog drains (UPLOAD_BWLIMIT=50MB), and every honest receipt must
 * be in S3 exactly once with the bytes the camera sent. A service that exits is a FAIL row with the reason;
 * it is then restarted on the same spool, so the S3 check still shows whether an acknowledged image was lost.
 */
import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Cleanup, infoRow, percentile, sleep, startS3, startService, targetRow, type Row, type ServiceChild } from './harness.js';
import { watchHealth, type HealthWatch } from './health-watch.js';
import { Corpus, corpusKinds } from './hostile/corpus.js';
import { HonestCameras } from './hostile/honest-cameras.js';
import { JsonBodies } from './hostile/json-bodies.js';
import { Poison } from './hostile/poison.js';
import { verifyReceipts, waitForUploads, type S3Target, type S3Verdict } from './hostile/s3-check.js';
import { ServiceWatch } from './hostile/service-watch.js';
import type { Tally } from './hostile/tally.js';
import { Tricklers } from './hostile/tricklers.js';
import { SMALL_JPEG } from './wrk.js';

export interface HostileSoakOptions {
  minutes: number;
}

const BENCH = 'hostile';
const MB = 1e6;
const HONEST_PREFIX = 'honest-';
const BWLIMIT = '50MB';
const TARGET = { honestP99Ms: 2000, healthMaxMs: 100, peakRssBytes: 300 * MB };

interface Loads {
  cameras: HonestCameras;
  tricklers: Tricklers;
  json: JsonBodies;
  poison: Poison;
  corpus: Corpus;
}

export async function runHostileSoak(o: HostileSoakOptions, cleanup: Cleanup): Promise<Row[]> {
  const s3 = await startS3(cleanup);
  const env = { S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, UPLOAD_BWLIMIT: BWLIMIT };
  const service = await startService(cleanup, env);
  const loads = createLoads(service, await readFile(SMALL_JPEG));
  const health = await watchHealth(service.baseUrl, { gapMs: 100, deadlineMs: 2000 });
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  console.log(`hostile: ${o.minutes} min: 10 honest cameras beside tricklers, JSON bodies, poison images and the malformed corpus ...`);
  const watch = new ServiceWatch(service); // its clock starts with the load
  for (const load of Object.values(loads)) load.start();
  const ranMs = await runFor(o.minutes * 60_000, watch, loads);
  await stopLoads(loads);
  const healthStats = await health.stop();
  watch.stop();
  lag.disable();
  const crash = watch.crash();
  console.log(`hostile: load stopped after ${(ranMs / 1000).toFixed(0)} s${crash ? ` (service ${crash})` : ''}; draining the honest backlog ...`);
  const drain = await drainAndVerify(s3, crash === null ? service : await restart(cleanup, env, service), loads.cameras);
  await service.stop();
  return [
    ...honestRows(loads.cameras, drain.verdict),
    ...serviceRows(healthStats, watch.peakRss, crash, drain.note),
    ...hostileRows(loads),
    infoRow(BENCH, 'run: hostile load / drain; bench event loop delay p99 / max',
      `${(ranMs / 1000).toFixed(0)} s / ${(drain.ms / 1000).toFixed(0)} s (UPLOAD_BWLIMIT=${BWLIMIT}); ` +
      `${(lag.percentile(99) / 1e6).toFixed(0)} / ${(lag.max / 1e6).toFixed(0)} ms`),
  ];
}

function createLoads(service: ServiceChild, smallJpeg: Buffer): Loads {
  const url = `${service.baseUrl}/image`;
  const port = Number(new URL(service.baseUrl).port);
  return {
    cameras: new HonestCameras({
      url, cameras: 10, periodMs: 2000, minBytes: 1 * MB, maxBytes: 4 * MB, attemptDeadlineMs: 30_000, maxAttempts: 5, maxRetryAfterS: 5, retryGraceMs: 15_000,
    }),
    tricklers: new Tricklers({ port, count: 100, bytesPerSec: 1200, declaredBytes: 4 * MB, reopenMs: 1000 }),
    json: new JsonBodies({ url, loops: 4, bodyBytes: 20 * MB, minGapMs: 1000, deadlineMs: 60_000 }),
    poison: new Poison({ url, gapMs: 2000, deadlineMs: 30_000 }),
    corpus: new Corpus({ port, gapMs: 100, deadlineMs: 10_000, maxInFlight: 100 }, corpusKinds(smallJpeg)),
  };
}

/** Until `durationMs` has passed or the service has exited; a progress line now and then. Returns how long it ran. */
async function runFor(durationMs: number, watch: ServiceWatch, loads: Loads): Promise<number> {
  const started = performance.now();
  let reported = started;
  const every = Math.max(30_000, durationMs / 10);
  while (performance.now() - started < durationMs && watch.crash() === null) {
    await sleep(200);
    if (performance.now() - reported >= every) {
      reported = performance.now();
      const c = loads.cameras;
      console.log(`hostile: ${((reported - started) / 60_000).toFixed(1)} min, honest ${c.receipts.size} receipts of ${c.photos} photos ` +
        `(p99 so far ${percentile(c.deliveryMs, 99).toFixed(0)} ms), tricklers open ${loads.tricklers.openNow()}, peak RSS ${(watch.peakRss / MB).toFixed(0)} MB`);
    }
  }
  return performance.now() - started;
}

async function stopLoads(loads: Loads): Promise<void> {
  loads.tricklers.stop();
  await Promise.all([loads.cameras.stop(), loads.json.stop(), loads.poison.stop(), loads.corpus.stop()]);
}

/** The service exited: a new one on the same spool uploads what the dead one acknowledged (null if it cannot start). */
async function restart(cleanup: Cleanup, env: Record<string, string>, dead: ServiceChild): Promise<ServiceChild | null> {
  try {
    return await startService(cleanup, { ...env, SPOOL_DIR: dead.spoolDir });
  } catch (err) {
    console.log(`hostile: the restart on the same spool failed: ${String(err).slice(0, 300)}`);
    return null;
  }
}

async function drainAndVerify(s3: S3Target, drainer: ServiceChild | null, cameras: HonestCameras): Promise<{ verdict: S3Verdict; ms: number; note: string }> {
  const receipts = cameras.receipts;
  const ms = drainer === null ? 0 : await waitForUploads(s3, HONEST_PREFIX, receipts, { deadlineMs: 300_000, stallMs: 60_000 });
  const verdict = await verifyReceipts(s3, HONEST_PREFIX, receipts);
  await drainer?.stop();
  const note = drainer === null ? 'restart on the same spool failed: no drain' : '';
  return { verdict, ms, note };
}

function honestRows(cameras: HonestCameras, v: S3Verdict): Row[] {
  const p99 = percentile(cameras.deliveryMs, 99);
  const undelivered = cameras.photos - cameras.deliveryMs.length;
  const s3Pass = v.receipts > 0 && v.exactlyOnce === v.receipts && v.photoTwice === 0 && v.stray === 0;
  return [
    targetRow(BENCH, `honest p99: photo to receipt, retries included (${cameras.deliveryMs.length} receipts)`,
      cameras.deliveryMs.length === 0 ? 'no receipt' : `${p99.toFixed(0)} ms (p50 ${ms(cameras.deliveryMs, 50)} ms)`,
      `< ${TARGET.honestP99Ms} ms`, cameras.deliveryMs.length > 0 && p99 < TARGET.honestP99Ms),
    targetRow(BENCH, 'honest photos without a receipt (by last answer)', `${undelivered} of ${cameras.photos}${undelivered > 0 ? `: ${cameras.undelivered.format('honest')}` : ''}`,
      '= 0', cameras.photos > 0 && undelivered === 0),
    infoRow(BENCH, 'honest attempts: answers; retries; attempt p99',
      `${cameras.attempts.format('honest')}; ${cameras.retries.total('honest') === 0 ? 'no retries' : cameras.retries.format('honest')}; ${ms(cameras.attemptMs, 99)} ms`),
    targetRow(BENCH, 'honest receipts in S3 exactly once, same SHA-256',
      `${v.exactlyOnce} of ${v.receipts} (missing ${v.missing}, duplicated ${v.duplicated}, photo under 2 receipts ${v.photoTwice}, wrong bytes ${v.wrongBytes}, stray ${v.stray})`,
      'all, 0 stray', s3Pass),
  ];
}

function serviceRows(h: HealthWatch, peakRss: number, crash: string | null, drainNote: string): Row[] {
  const polls = h.answered + h.failed;
  return [
    targetRow(BENCH, 'service stayed up', crash === null ? 'yes' : `no: ${crash}${drainNote ? `; ${drainNote}` : '; restarted on the same spool to drain'}`, 'no exit', crash === null),
    targetRow(BENCH, `/healthz max every 100 ms from another process (p99; failed of ${polls})`,
      `${h.maxMs.toFixed(0)} ms (p99 ${ms(h.latencies, 99)} ms; ${h.failed} failed)`, `< ${TARGET.healthMaxMs} ms, 0 failed`,
      polls > 0 && h.maxMs < TARGET.healthMaxMs && h.failed === 0),
    targetRow(BENCH, 'peak RSS (VmHWM) under attack', `${(peakRss / MB).toFixed(1)} MB`, `< ${TARGET.peakRssBytes / MB} MB`, peakRss > 0 && peakRss < TARGET.peakRssBytes),
  ];
}

/** One info row per hostile input kind: what the service answered, and how often. */
function hostileRows(loads: Loads): Row[] {
  const rows = (prefix: string, tally: Tally): Row[] => tally.kinds().map((kind) => infoRow(BENCH, `${prefix}${kind} (${tally.total(kind)})`, tally.format(kind)));
  return [
    infoRow(BENCH, 'tricklers: connections opened / open at the end', `${loads.tricklers.opened} / ${loads.tricklers.openAtStop}`),
    ...rows('', loads.tricklers.tally),
    ...rows('', loads.json.tally),
    infoRow(BENCH, 'JSON body latency p50 / p99', `${ms(loads.json.latencies, 50)} / ${ms(loads.json.latencies, 99)} ms`),
    ...rows('poison: ', loads.poison.tally),
    ...rows('corpus: ', loads.corpus.tally),
  ];
}

/** A percentile in whole milliseconds, or '-' when nothing was measured. */
function ms(values: number[], p: number): string {
  return values.length === 0 ? '-' : percentile(values, p).toFixed(0);
}
