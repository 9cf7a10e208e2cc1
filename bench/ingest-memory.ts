/**
 * Ingest memory bench: N concurrent POSTs of 4 MB images to the service (a child process), sampling its
 * RSS from /proc/PID/status every 50 ms, and reading VmHWM (the kernel's peak RSS) at the end. Uploads
 * run at a small budget (UPLOAD_BWLIMIT=1MB) so they continue in the background, as with a real backlog,
 * without dominating the CPU.
 */
import { randomBytes } from 'node:crypto';
import { Cleanup, fakeJpeg, percentile, postImage, readRss, sleep, startS3, startService, type PostOutcome, type Row } from './harness.js';

export interface IngestOptions {
  posts: number;
  imageBytes: number;
}

const MB = 1e6;
const PEAK_TARGET = 200 * MB;

export async function runIngestMemory(o: IngestOptions, cleanup: Cleanup): Promise<Row[]> {
  const s3 = await startS3(cleanup);
  const service = await startService(cleanup, {
    S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, UPLOAD_BWLIMIT: '1MB', UPLOAD_CONCURRENCY: '4',
  });
  // One shared random body; each post gets its own 16-byte JPEG-signed head, so every image is distinct.
  const shared = fakeJpeg(o.imageBytes).subarray(16);
  const heads = Array.from({ length: o.posts }, () => {
    const head = randomBytes(16);
    head.set([0xff, 0xd8, 0xff, 0xe0], 0);
    return head;
  });
  await sleep(2000); // let start-up settle before the idle baseline
  const baseline = readRss(service.pid).rss;

  let sampledPeak = baseline;
  let samples = 0;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, readRss(service.pid).rss);
    samples++;
  }, 50);
  console.log(`ingest: ${o.posts} concurrent POSTs of ${o.imageBytes / MB} MB (service RSS idle ${(baseline / MB).toFixed(1)} MB) ...`);
  const started = performance.now();
  let results: PostOutcome[];
  try {
    results = await Promise.all(heads.map((head, i) => postImage(service.baseUrl, `cam-${i % 50}`, [head, shared])));
  } finally {
    clearInterval(sampler);
  }
  const elapsed = (performance.now() - started) / 1000;
  const { rss: after, hwm } = readRss(service.pid);
  await service.stop();

  const acked = results.filter((r) => r.status === 202);
  const latencies = acked.map((r) => r.ms);
  const peak = Math.max(sampledPeak, hwm);
  const bench = 'ingest';
  const info = (metric: string, spool: string): Row => ({ bench, metric, spool, target: 'info', spoolResult: '', rclone: '-', rcloneResult: '' });
  return [
    info('service RSS idle (baseline)', `${(baseline / MB).toFixed(1)} MB`),
    {
      bench, metric: `peak RSS during ${o.posts} concurrent posts (VmHWM)`, spool: `${(peak / MB).toFixed(1)} MB`,
      target: '<= 200 MB', spoolResult: peak <= PEAK_TARGET ? 'PASS' : 'FAIL', rclone: '-', rcloneResult: '',
    },
    info('peak RSS sampled every 50 ms', `${(sampledPeak / MB).toFixed(1)} MB (${samples} samples)`),
    info('RSS right after the last ack', `${(after / MB).toFixed(1)} MB`),
    {
      bench, metric: 'posts acked 202', spool: `${acked.length}/${o.posts}`, target: `= ${o.posts}`,
      spoolResult: acked.length === o.posts ? 'PASS' : 'FAIL', rclone: '-', rcloneResult: '',
    },
    info('images/s acked (wall clock, all posts)', `${(acked.length / elapsed).toFixed(1)} (${elapsed.toFixed(2)} s)`),
    info('latency p50 / p99 / max', `${percentile(latencies, 50).toFixed(0)} / ${percentile(latencies, 99).toFixed(0)} / ${Math.max(...latencies).toFixed(0)} ms`),
  ];
}
