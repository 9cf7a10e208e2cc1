/**
 * Soak (issue 7): steady ingest and upload for `minutes`, the service's RSS sampled every `sampleMs`.
 * Ingest: 20 distinct small real JPEGs a second (bench/fixtures/small.jpg with a counter in a JPEG comment)
 * from 50 devices, plus one 250 kB image a second; uploads to s3rver under a budget (2MB/s) that keeps up,
 * so the backlog stays small and uploaded files are deleted as they go. Memory is flat when the mean RSS of
 * the last sixth of the run (the last 5 of 30 minutes) is within 10% of the mean of the second sixth
 * (minutes 5-10; the first sixth is warm-up: JIT, heap growth, SQLite page cache).
 */
import { readFile } from 'node:fs/promises';
import { Cleanup, fakeJpeg, infoRow, percentile, postImage, readRss, sleep, startS3, startService, targetRow, type Row } from './harness.js';
import { SMALL_JPEG } from './wrk.js';

export interface SoakOptions {
  minutes: number;
  sampleMs: number;
}

const MB = 1e6;
const SMALL_PER_SEC = 20;
const GROWTH_TARGET = 0.1;

export async function runSoak(o: SoakOptions, cleanup: Cleanup): Promise<Row[]> {
  const bench = 'soak';
  const s3 = await startS3(cleanup);
  const service = await startService(cleanup, { S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, UPLOAD_BWLIMIT: '2MB' });
  const jpeg = await readFile(SMALL_JPEG);
  const large = fakeJpeg(250_000);
  const durationMs = o.minutes * 60_000;
  console.log(`soak: ${o.minutes} min of ${SMALL_PER_SEC} small + 1 x 250 kB images/s, RSS every ${o.sampleMs / 1000} s ...`);

  const samples: Array<{ t: number; rss: number }> = [];
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  let n = 0;
  let inFlight = 0;
  const started = performance.now();
  const post = (image: Buffer[]): void => {
    inFlight++;
    const device = `soak-${n % 50}`;
    postImage(service.baseUrl, device, image)
      .then((r) => {
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        latencies.push(r.ms);
      }, () => statuses.set(0, (statuses.get(0) ?? 0) + 1))
      .finally(() => { inFlight--; });
  };
  const sampler = setInterval(() => samples.push({ t: performance.now() - started, rss: readRss(service.pid).rss }), o.sampleMs);
  let ticks = 0;
  const ticker = setInterval(() => {
    for (let i = 0; i < SMALL_PER_SEC / 10; i++) post(distinctJpeg(jpeg, ++n));
    if (++ticks % 10 === 0) post([distinctHead(++n), large]);
  }, 100);
  const progress = setInterval(() => {
    const last = samples.at(-1);
    console.log(`soak: ${((performance.now() - started) / 60_000).toFixed(1)} min, ${n} posted, ${service.uploaded()} uploaded, RSS ${last ? (last.rss / MB).toFixed(1) : '?'} MB`);
  }, Math.max(30_000, durationMs / 10));
  try {
    await sleep(durationMs);
  } finally {
    clearInterval(ticker);
    clearInterval(sampler);
    clearInterval(progress);
  }
  while (inFlight > 0) await sleep(50);
  const { hwm } = readRss(service.pid);
  const uploaded = service.uploaded();
  await service.stop();

  const sixth = durationMs / 6;
  const mean = (from: number, to: number): number => {
    const xs = samples.filter((s) => s.t >= from && s.t < to).map((s) => s.rss);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const reference = mean(sixth, 2 * sixth);
  const final = mean(durationMs - sixth, durationMs + 1);
  const growth = final / reference - 1;
  const acked = statuses.get(202) ?? 0;
  const bad = [...statuses].filter(([code]) => code !== 202).reduce((a, [, c]) => a + c, 0);
  const window = (m: number): string => `${(m / 60_000).toFixed(m % 60_000 === 0 ? 0 : 1)}`;
  return [
    {
      ...targetRow(bench, `RSS growth over ${o.minutes} min: mean of the last ${window(sixth)} min / minutes ${window(sixth)}-${window(2 * sixth)}`,
        `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}% (${(final / MB).toFixed(1)} MB)`, `< +${GROWTH_TARGET * 100}%`, growth < GROWTH_TARGET),
      baseline: `${(reference / MB).toFixed(1)} MB`, ratio: `${(final / reference).toFixed(3)}x`,
    },
    infoRow(bench, `RSS samples: min / max (every ${o.sampleMs / 1000} s, ${samples.length}) / VmHWM`,
      `${(Math.min(...samples.map((s) => s.rss)) / MB).toFixed(1)} / ${(Math.max(...samples.map((s) => s.rss)) / MB).toFixed(1)} / ${(hwm / MB).toFixed(1)} MB`),
    infoRow(bench, 'RSS by minute (MB)', perMinute(samples).map((v) => v.toFixed(0)).join(' ')),
    targetRow(bench, 'posts answered other than 202', `${bad} of ${acked + bad}`, '= 0', bad === 0),
    infoRow(bench, 'images acked / uploaded; ingest latency p50 / p99', `${acked} / ${uploaded}; ${percentile(latencies, 50).toFixed(0)} / ${percentile(latencies, 99).toFixed(0)} ms`),
  ];
}

/** small.jpg with a COM segment holding `n`: a valid JPEG whose bytes differ from every other one. */
function distinctJpeg(jpeg: Buffer, n: number): Buffer[] {
  const tag = Buffer.from(`soak-${n}`, 'latin1');
  const com = Buffer.from([0xff, 0xd8, 0xff, 0xfe, 0, 0]);
  com.writeUInt16BE(tag.length + 2, 4);
  return [com, tag, jpeg.subarray(2)];
}

/** 16 bytes that start like a JPEG and hold `n`: put before a shared body, they make each image distinct. */
function distinctHead(n: number): Buffer {
  const head = Buffer.alloc(16);
  head.set([0xff, 0xd8, 0xff, 0xe0], 0);
  head.writeUInt32BE(n, 12);
  return head;
}

function perMinute(samples: Array<{ t: number; rss: number }>): number[] {
  const minutes = new Map<number, number[]>();
  for (const s of samples) {
    const m = Math.floor(s.t / 60_000);
    minutes.set(m, [...(minutes.get(m) ?? []), s.rss]);
  }
  return [...minutes.values()].map((xs) => xs.reduce((a, b) => a + b, 0) / xs.length / MB);
}
