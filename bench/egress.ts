/**
 * Egress bench: is the upload budget held at every moment? image-spool (UPLOAD_BWLIMIT=5MB,
 * UPLOAD_CONCURRENCY=4) and `rclone copy --bwlimit 5M --transfers 4` upload the same files to the same
 * s3rver, each through its own byte-meter proxy, in the same run. Each tool is compared with its own cap.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gridWindows, slidingMax, startMeterProxy, type MeterProxy, type Samples } from './byte-meter-proxy.js';
import { Cleanup, fakeJpeg, postImage, sleep, startS3, startService, waitUntil, type BenchS3, type Row } from './harness.js';

export interface EgressOptions {
  images: number;
  afterIdleImages: number;
  imageBytes: number;
  idleMs: number;
  /** When set, raw proxy samples are written here as CSV (t_ms,bytes), one file per tool and phase. */
  traceDir?: string;
}

const SPOOL_CAP = 5e6; // UPLOAD_BWLIMIT=5MB: 5,000,000 B/s
const RCLONE_CAP = 5 * 1024 * 1024; // --bwlimit 5M: 5 MiB/s

/** What one tool did: the busy period with a backlog, the idle gap, and the batch after it. */
interface Trace {
  cap: number;
  backlog: Samples;
  idleBytes: number;
  afterIdle: Samples;
}

interface Measured {
  mean: number;
  max1s: number;
  max100ms: number;
  firstSecondAfterIdle: number;
  busySeconds: number;
  fullSeconds: number;
  sliding1s: number;
  sliding100ms: number;
  first100msAfterIdle: number;
  idleBytes: number;
  meterLagMaxMs: number;
  meterNiced: boolean;
}

function measure(trace: Trace): Measured {
  const { cap } = trace;
  const sec = gridWindows(trace.backlog, 1000);
  const tenth = gridWindows(trace.backlog, 100);
  const after = gridWindows(trace.afterIdle, 1000);
  const afterTenth = gridWindows(trace.afterIdle, 100);
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  return {
    mean: sum(sec.windows) / sec.windows.length / cap,
    max1s: Math.max(...sec.windows) / cap,
    max100ms: Math.max(...tenth.windows) / (cap / 10),
    firstSecondAfterIdle: (after.windows[0] ?? NaN) / cap,
    busySeconds: (sec.end - sec.start) / 1000,
    fullSeconds: sec.windows.length,
    sliding1s: slidingMax(trace.backlog, 1000, 10) / cap,
    sliding100ms: slidingMax(trace.backlog, 100, 10) / (cap / 10),
    first100msAfterIdle: (afterTenth.windows[0] ?? NaN) / (cap / 10),
    idleBytes: trace.idleBytes,
    meterLagMaxMs: Math.max(trace.backlog.meterLagMaxMs, trace.afterIdle.meterLagMaxMs),
    meterNiced: trace.backlog.meterNiced,
  };
}

async function writeTrace(dir: string | undefined, tool: string, trace: Trace): Promise<void> {
  if (!dir) return;
  await mkdir(dir, { recursive: true });
  for (const [phase, samples] of [['backlog', trace.backlog], ['after-idle', trace.afterIdle]] as const) {
    const lines = Array.from(samples.t, (t, i) => `${t.toFixed(3)},${samples.bytes[i] as number}`);
    await writeFile(path.join(dir, `egress-${tool}-${phase}.csv`), `t_ms,bytes\n${lines.join('\n')}\n`);
    const stalls = samples.stalls.map(([t, late]) => `${t.toFixed(3)},${late.toFixed(1)}`);
    await writeFile(path.join(dir, `egress-${tool}-${phase}-meter-stalls.csv`), `t_ms,late_ms\n${stalls.join('\n')}\n`);
  }
}

function sumBytes(s: Samples): number {
  return s.bytes.reduce((a, b) => a + b, 0);
}

async function runImageSpool(o: EgressOptions, s3: BenchS3, proxy: MeterProxy, backlog: Buffer[], afterIdle: Buffer[], cleanup: Cleanup): Promise<Trace> {
  const service = await startService(cleanup, {
    S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`, S3_PREFIX: 'spool',
    UPLOAD_BWLIMIT: '5MB', UPLOAD_CONCURRENCY: '4',
  });
  const postAll = async (images: Buffer[]): Promise<void> => {
    const results = await Promise.all(images.map((img, i) => postImage(service.baseUrl, `cam-${i % 8}`, [img])));
    const bad = results.filter((r) => r.status !== 202);
    if (bad.length > 0) throw new Error(`image-spool refused ${bad.length} posts: ${bad.map((r) => r.status).join(',')}\n${service.logTail(20)}`);
  };
  const waitUploaded = (n: number, bytes: number): Promise<void> =>
    waitUntil(() => service.uploaded() >= n, (bytes / SPOOL_CAP) * 2000 + 30_000, `${n} uploads\n${service.logTail(20)}`);

  await proxy.take(); // discard anything before the backlog (nothing is expected)
  console.log(`egress: image-spool: posting ${backlog.length} images, uploading at 5 MB/s ...`);
  await postAll(backlog);
  await waitUploaded(backlog.length, backlog.length * o.imageBytes);
  const backlogSamples = await proxy.take();
  console.log(`egress: image-spool: idle ${o.idleMs / 1000} s ...`);
  await sleep(o.idleMs);
  const idleBytes = sumBytes(await proxy.take());
  await postAll(afterIdle);
  await waitUploaded(backlog.length + afterIdle.length, afterIdle.length * o.imageBytes);
  const afterSamples = await proxy.take();
  await service.stop();
  const stored = await s3.list('spool/');
  const expected = backlog.length + afterIdle.length;
  if (stored.length !== expected || stored.some((obj) => obj.Size !== o.imageBytes)) {
    throw new Error(`image-spool: expected ${expected} objects of ${o.imageBytes} bytes in s3, found ${stored.length}`);
  }
  return { cap: SPOOL_CAP, backlog: backlogSamples, idleBytes, afterIdle: afterSamples };
}

/** Why rclone cannot run, or null when it can. */
function rcloneMissing(): string | null {
  const probe = spawnSync('rclone', ['version'], { encoding: 'utf8' });
  if (probe.error) return `rclone is not installed (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); install it with apt-get install -y rclone`;
  if (probe.status !== 0) return `\`rclone version\` exited ${probe.status}: ${probe.stderr.trim()}`;
  return null;
}

function rcloneCopy(from: string, to: string, proxyPort: number, home: string): Promise<void> {
  // A minimal environment: rclone's AWS SDK would otherwise pick up a host AWS_CA_BUNDLE and refuse its
  // custom HTTP transport ("LoadCustomCABundleError"), and no rclone.conf is read.
  const env = {
    PATH: process.env['PATH'] ?? '', HOME: home,
    RCLONE_CONFIG_S3R_TYPE: 's3', RCLONE_CONFIG_S3R_PROVIDER: 'Other',
    RCLONE_CONFIG_S3R_ENDPOINT: `http://127.0.0.1:${proxyPort}`,
    RCLONE_CONFIG_S3R_ACCESS_KEY_ID: 'S3RVER', RCLONE_CONFIG_S3R_SECRET_ACCESS_KEY: 'S3RVER',
    RCLONE_CONFIG_S3R_FORCE_PATH_STYLE: 'true',
  };
  const args = ['copy', '--config', '/dev/null', '--bwlimit', '5M', '--transfers', '4',
    '--s3-upload-cutoff', '100M', '--s3-disable-checksum', '--s3-no-check-bucket', from, to];
  return new Promise((resolve, reject) => {
    const child = spawn('rclone', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => code === 0 ? resolve() : reject(new Error(`rclone ${args.join(' ')} exited ${code}:\n${stderr}`)));
  });
}

async function runRclone(o: EgressOptions, s3: BenchS3, proxy: MeterProxy, backlog: Buffer[], afterIdle: Buffer[], cleanup: Cleanup): Promise<Trace> {
  const dir = await cleanup.tempDir('bench-rclone-');
  const writeBatch = async (name: string, images: Buffer[]): Promise<string> => {
    const batch = path.join(dir, name);
    await mkdir(batch);
    await Promise.all(images.map((img, i) => writeFile(path.join(batch, `img-${String(i).padStart(3, '0')}.jpg`), img)));
    return batch;
  };
  const backlogDir = await writeBatch('backlog', backlog);
  const afterDir = await writeBatch('after-idle', afterIdle);
  await proxy.take();
  console.log(`egress: rclone: copying ${backlog.length} files at --bwlimit 5M ...`);
  await rcloneCopy(backlogDir, `s3r:${s3.bucket}/rclone/backlog`, proxy.port, dir);
  const backlogSamples = await proxy.take();
  console.log(`egress: rclone: idle ${o.idleMs / 1000} s ...`);
  await sleep(o.idleMs);
  const idleBytes = sumBytes(await proxy.take());
  await rcloneCopy(afterDir, `s3r:${s3.bucket}/rclone/after-idle`, proxy.port, dir);
  const afterSamples = await proxy.take();
  const stored = await s3.list('rclone/');
  const expected = backlog.length + afterIdle.length;
  if (stored.length !== expected || stored.some((obj) => obj.Size !== o.imageBytes)) {
    throw new Error(`rclone: expected ${expected} objects of ${o.imageBytes} bytes in s3, found ${stored.length}`);
  }
  return { cap: RCLONE_CAP, backlog: backlogSamples, idleBytes, afterIdle: afterSamples };
}

const fmt = (ratio: number, cap: number): string => `${ratio.toFixed(4)} (${((ratio * cap) / 1e6).toFixed(2)} MB/s)`;

export async function runEgress(o: EgressOptions, cleanup: Cleanup): Promise<Row[]> {
  const s3 = await startS3(cleanup);
  const spoolProxy = await startMeterProxy(s3.port);
  cleanup.add(() => spoolProxy.close());
  const rcloneProxy = await startMeterProxy(s3.port);
  cleanup.add(() => rcloneProxy.close());
  const backlog = Array.from({ length: o.images }, () => fakeJpeg(o.imageBytes));
  const afterIdle = Array.from({ length: o.afterIdleImages }, () => fakeJpeg(o.imageBytes));

  const spoolTrace = await runImageSpool(o, s3, spoolProxy, backlog, afterIdle, cleanup);
  await writeTrace(o.traceDir, 'image-spool', spoolTrace);
  const spool = measure(spoolTrace);
  const skipped = rcloneMissing();
  if (skipped) console.log(`egress: rclone baseline SKIPPED: ${skipped}`);
  const rcloneTrace = skipped ? null : await runRclone(o, s3, rcloneProxy, backlog, afterIdle, cleanup);
  if (rcloneTrace) await writeTrace(o.traceDir, 'rclone', rcloneTrace);
  const rclone = rcloneTrace ? measure(rcloneTrace) : null;

  const bench = 'egress';
  const row = (metric: string, pick: (m: Measured) => number, target: string, ok: ((v: number) => boolean) | null): Row => {
    const spoolValue = pick(spool);
    const rcloneValue = rclone ? pick(rclone) : NaN;
    const verdict = (v: number): string => (ok ? (ok(v) ? 'PASS' : 'FAIL') : '');
    return {
      bench, metric, target,
      spool: fmt(spoolValue, SPOOL_CAP), spoolResult: verdict(spoolValue),
      rclone: rclone ? fmt(rcloneValue, RCLONE_CAP) : 'skipped', rcloneResult: rclone ? verdict(rcloneValue) : '',
    };
  };
  const info = (metric: string, show: (m: Measured) => string): Row => ({
    bench, metric, target: 'info', spool: show(spool), spoolResult: '', rclone: rclone ? show(rclone) : 'skipped', rcloneResult: '',
  });
  return [
    { bench, metric: 'cap (each tool against its own)', target: 'info', spool: '5MB = 5.000 MB/s', spoolResult: '', rclone: rclone ? '5M = 5 MiB/s = 5.243 MB/s' : 'skipped', rcloneResult: '' },
    info('busy period / full 1 s windows', (m) => `${m.busySeconds.toFixed(2)} s / ${m.fullSeconds}`),
    row('mean rate / cap (full 1 s windows)', (m) => m.mean, '>= 0.99', (v) => v >= 0.99),
    row('max 1 s window / cap', (m) => m.max1s, '<= 1.01', (v) => v <= 1.01),
    row('max 100 ms window / cap', (m) => m.max100ms, '<= 1.10', (v) => v <= 1.1),
    row(`first 1 s after ${o.idleMs / 1000} s idle / cap`, (m) => m.firstSecondAfterIdle, '<= 1.02', (v) => v <= 1.02),
    row('first 100 ms after idle / cap', (m) => m.first100msAfterIdle, 'info', null),
    row('sliding max 1 s (10 ms step) / cap', (m) => m.sliding1s, 'info', null),
    row('sliding max 100 ms (10 ms step) / cap', (m) => m.sliding100ms, 'info', null),
    info('bytes sent during idle', (m) => String(m.idleBytes)),
    info('meter thread: worst lateness of its 1 ms tick', (m) => `${m.meterLagMaxMs.toFixed(1)} ms${m.meterNiced ? ' (nice -10)' : ' (not niced)'}`),
  ];
}
