/**
 * RTT fill: does the default configuration use the whole budget when S3 is far away? A delay line adds
 * 60 ms of round trip (30 ms each way) between the service and S3; the byte meter sits in front of it.
 * Target: mean >= 0.97 x cap at UPLOAD_BWLIMIT=100Mbit with the default UPLOAD_CONCURRENCY, never above the cap.
 */
import { gridWindows, startMeterProxy, type MeterProxy } from './byte-meter-proxy.js';
import { startDelayProxy } from './delay-proxy.js';
import { fakeJpeg, postImage, startS3, startService, waitUntil, type Cleanup, type Row, type ServiceChild } from './harness.js';

const CAP = 12_500_000; // 100Mbit

/** s3rver behind a delay line of `rttMs` round trip, the byte meter in front of it, and the service pointed at the meter. */
async function startFarService(cleanup: Cleanup, rttMs: number, env: Record<string, string>): Promise<{ meter: MeterProxy; service: ServiceChild }> {
  const s3 = await startS3(cleanup);
  const delay = await startDelayProxy(s3.port, rttMs / 2);
  cleanup.add(() => delay.close());
  const meter = await startMeterProxy(delay.port);
  cleanup.add(() => meter.close());
  const service = await startService(cleanup, { S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${meter.port}`, ...env });
  return { meter, service };
}

export interface RttFillOptions {
  images: number;
  imageBytes: number;
  rttMs: number;
}

export async function runRttFill(o: RttFillOptions, cleanup: Cleanup): Promise<Row[]> {
  const { meter, service } = await startFarService(cleanup, o.rttMs, { S3_PREFIX: 'rtt', UPLOAD_BWLIMIT: '100Mbit' });
  const images = Array.from({ length: o.images }, () => fakeJpeg(o.imageBytes));
  console.log(`rtt-fill: ${o.images} x ${o.imageBytes / 1e6} MB at 100Mbit through ${o.rttMs} ms of RTT ...`);
  await meter.take();
  const results = await Promise.all(images.map((img, i) => postImage(service.baseUrl, `cam-${i % 8}`, [img])));
  if (results.some((r) => r.status !== 202)) throw new Error(`rtt-fill: posts refused\n${service.logTail(20)}`);
  await waitUntil(() => service.uploaded() >= o.images, (o.images * o.imageBytes / CAP) * 3000 + 30_000, `${o.images} uploads\n${service.logTail(20)}`);
  const stats = gridWindows(await meter.take(), 1000);
  await service.stop();
  const mean = stats.windows.reduce((a, b) => a + b, 0) / stats.windows.length / CAP;
  const max = Math.max(...stats.windows) / CAP;
  const fmt = (x: number): string => x.toFixed(4);
  const row = (metric: string, value: string, target: string, result: string): Row =>
    ({ bench: 'rtt-fill', metric, spool: value, target, spoolResult: result, rclone: '-', rcloneResult: '' });
  return [
    row(`mean / cap at ${o.rttMs} ms RTT, default concurrency (${stats.windows.length} full 1 s windows)`, fmt(mean), '>= 0.97', mean >= 0.97 ? 'PASS' : 'FAIL'),
    row(`max 1 s window / cap at ${o.rttMs} ms RTT`, fmt(max), '<= 1.01', max <= 1.01 ? 'PASS' : 'FAIL'),
  ];
}

export interface SmallRttOptions {
  images: number;
  imageBytes: number;
  rttMs: number;
}

const SMALL_TOKEN = 'bench-rtt-small-images-0123456789abcdef';

/**
 * Small images, where one RTT per upload is most of the upload: the same backlog drained with a fixed
 * UPLOAD_CONCURRENCY=4 (the baseline) and with the default `auto`, in the same run. The backlog is posted
 * while the budget is 1KB (so it is all queued when the clock starts), then `PUT /admin/bwlimit 100Mbit`.
 */
export async function runRttFillSmall(o: SmallRttOptions, cleanup: Cleanup): Promise<Row[]> {
  const images = Array.from({ length: o.images }, () => fakeJpeg(o.imageBytes));
  const rows: Row[] = [];
  const results: Record<string, number> = {};
  for (const concurrency of (process.env['BENCH_SMALL_CONC'] ?? '4,auto').split(',')) {
    const { meter, service } = await startFarService(cleanup, o.rttMs,
      { S3_PREFIX: 'rtt-small', UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: concurrency, ADMIN_TOKEN: SMALL_TOKEN });
    console.log(`rtt-fill small: ${o.images} x ${o.imageBytes / 1000} kB at 100Mbit through ${o.rttMs} ms of RTT, UPLOAD_CONCURRENCY=${concurrency} ...`);
    await postAll(service.baseUrl, images);
    await setBwlimit(service.baseUrl, '100Mbit');
    await meter.take();
    const drainMs = (o.images * o.imageBytes / CAP) * 1000;
    await waitUntil(() => service.uploaded() >= o.images, drainMs * 6 + 30_000, `${o.images} uploads\n${service.logTail(20)}`);
    const stats = gridWindows(await meter.take(), 1000);
    await service.stop();
    await cleanup.run();
    const mean = stats.windows.reduce((a, b) => a + b, 0) / stats.windows.length / CAP;
    const max = Math.max(...stats.windows) / CAP;
    results[concurrency] = mean;
    console.log(`  1 s windows / cap: ${stats.windows.map((w) => (w / CAP).toFixed(2)).join(' ')}`);
    const row = (metric: string, value: string, target: string, result: string): Row =>
      ({ bench: 'rtt-fill', metric, spool: value, target, spoolResult: result, rclone: '-', rcloneResult: '' });
    const label = `${o.imageBytes / 1000} kB images, ${o.rttMs} ms RTT, UPLOAD_CONCURRENCY=${concurrency}`;
    rows.push(row(`mean / cap, ${label} (${stats.windows.length} full 1 s windows)`, mean.toFixed(4),
      concurrency === 'auto' ? '>= 0.97' : 'baseline', concurrency === 'auto' ? (mean >= 0.97 ? 'PASS' : 'FAIL') : ''));
    rows.push(row(`max 1 s window / cap, ${label}`, max.toFixed(4), '<= 1.01', max <= 1.01 ? 'PASS' : 'FAIL'));
  }
  rows.push({ bench: 'rtt-fill', metric: 'small images: auto / fixed 4 (same run)', spool: ((results['auto'] ?? NaN) / (results['4'] ?? NaN)).toFixed(2), target: 'info', spoolResult: '', rclone: '-', rcloneResult: '' });
  return rows;
}

async function postAll(baseUrl: string, images: Buffer[]): Promise<void> {
  let next = 0;
  const poster = async (): Promise<void> => {
    while (next < images.length) {
      const i = next++;
      const res = await postImage(baseUrl, `cam-${i % 8}`, [images[i] as Buffer]);
      if (res.status !== 202) throw new Error(`rtt-fill small: post ${i} answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, poster));
}

async function setBwlimit(baseUrl: string, rate: string): Promise<void> {
  const res = await fetch(`${baseUrl}/admin/bwlimit`, {
    method: 'PUT', headers: { authorization: `Bearer ${SMALL_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ rate }),
  });
  if (!res.ok) throw new Error(`PUT /admin/bwlimit answered ${res.status}: ${await res.text()}`);
}
