/**
 * UPLINK_SHARE on a link whose speed changes (issue 3's moonshot): the service uploads a backlog through
 * an emulated uplink (bench/netns-link.ts: veth + tc tbf, 30 ms each way of userspace delay) with
 * UPLOAD_BWLIMIT=100Mbit and UPLINK_SHARE=50%. The link runs at 200 Mbit/s, drops to 100 Mbit/s, and
 * returns to 200 Mbit/s; egress is read from the shaper's own byte counter (wire bytes) every 250 ms.
 * Used by `npm run bench` (the curve) and by test/network/uplink-share.test.ts (the assertions).
 */
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fakeJpeg, postImage, ROOT, sleep, startService, type Cleanup, type Row, type ServiceChild } from './harness.js';
import { createEmulatedLink, netnsUnavailable, type EmulatedLink } from './netns-link.js';

// The far end runs as compiled JS in its own process, whether this module runs compiled or from source.
const FAR_END = path.join(ROOT, 'dist/bench/far-end.js');
const ADMIN_TOKEN = 'adaptive-link-bench-token-0123456789abcdef';

export interface Phase {
  /** Link speed from this phase's start. */
  mbit: number;
  seconds: number;
}

export interface AdaptiveOptions {
  phases: Phase[];
  /** UPLOAD_BWLIMIT, e.g. "100Mbit". */
  cap: string;
  /** UPLINK_SHARE, e.g. "50%". */
  share: string;
  oneWayDelayMs: number;
  imageBytes: number;
}

/** One sample of the curve: seconds since the first phase began. */
export interface CurvePoint {
  t: number;
  linkMbit: number;
  /** Wire egress over the last sampling interval, Mbit/s. */
  egressMbit: number;
  /** The service's rate and capacity estimate at that moment (from GET /admin/bwlimit), Mbit/s. */
  rateMbit: number | null;
  capacityMbit: number | null;
}

export interface AdaptiveResult {
  points: CurvePoint[];
  /** Start time (s) of each phase on the same clock as the points. */
  phaseStarts: number[];
  /** Egress averaged over back-to-back 1 s windows from t = 0: [start s, Mbit/s]. */
  seconds: Array<[number, number]>;
}

const mbit = (bytesPerSec: number | null | undefined): number | null =>
  typeof bytesPerSec === 'number' ? (bytesPerSec * 8) / 1e6 : null;

export async function runAdaptiveLink(o: AdaptiveOptions, cleanup: Cleanup): Promise<AdaptiveResult> {
  const first = o.phases[0];
  if (!first) throw new Error('no phases');
  const link = await createEmulatedLink(first.mbit);
  cleanup.add(() => link.close());
  const s3Port = await startFarEnd(link, o.oneWayDelayMs, await cleanup.tempDir('bench-far-s3-'), cleanup);
  const service = await startService(cleanup, {
    S3_BUCKET: 'images', S3_ENDPOINT: `http://${link.farAddress}:${s3Port}`, S3_PREFIX: 'adaptive',
    UPLOAD_BWLIMIT: o.cap, UPLINK_SHARE: o.share, ADMIN_TOKEN, LOG_LEVEL: process.env['ADAPTIVE_LOG'] ? 'debug' : 'info',
  });
  const totalSeconds = o.phases.reduce((s, p) => s + p.seconds, 0);
  await postBacklog(service, Math.ceil((totalSeconds * 13_000_000) / o.imageBytes) + 8, o.imageBytes);
  const points: CurvePoint[] = [];
  const phaseStarts: number[] = [];
  const t0 = performance.now();
  let lastBytes = await link.sentBytes();
  let lastT = t0;
  let current = first.mbit;
  let phaseEnd = 0;
  for (const phase of o.phases) {
    if (phase !== first) await link.setRateMbit(phase.mbit);
    current = phase.mbit;
    phaseStarts.push((performance.now() - t0) / 1000);
    phaseEnd += phase.seconds * 1000;
    while (performance.now() - t0 < phaseEnd) {
      await sleep(250);
      const [bytes, state] = await Promise.all([link.sentBytes(), bandwidthState(service)]);
      const now = performance.now();
      points.push({
        t: (now - t0) / 1000,
        linkMbit: current,
        egressMbit: ((bytes - lastBytes) * 8) / ((now - lastT) / 1000) / 1e6,
        rateMbit: mbit(state?.rate_bytes_per_sec),
        capacityMbit: mbit(state?.uplink?.capacity_bytes_per_sec),
      });
      lastBytes = bytes;
      lastT = now;
    }
  }
  if (service.uploaded() === 0) throw new Error(`adaptive-link: nothing uploaded\n${service.logTail(30)}`);
  if (process.env['ADAPTIVE_LOG']) await writeFile(process.env['ADAPTIVE_LOG'], service.logTail(2000));
  await service.stop();
  return { points, phaseStarts, seconds: secondWindows(points) };
}

async function startFarEnd(link: EmulatedLink, oneWayMs: number, dir: string, cleanup: Cleanup): Promise<number> {
  const child = link.spawnFar(process.execPath, [FAR_END, link.farAddress, String(oneWayMs), dir, 'images']);
  cleanup.add(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
  let out = '';
  child.stderr?.on('data', (c: Buffer) => { out += c.toString(); });
  const [line] = (await Promise.race([
    once(child.stdout as NodeJS.ReadableStream, 'data'),
    once(child, 'exit').then(() => { throw new Error(`far end exited: ${out}`); }),
  ])) as [Buffer];
  return (JSON.parse(line.toString()) as { port: number }).port;
}

/** A backlog that outlasts the run, posted 16 at a time. */
async function postBacklog(service: ServiceChild, count: number, bytes: number): Promise<void> {
  const body = fakeJpeg(bytes);
  let next = 0;
  const poster = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const head = fakeJpeg(16); // distinct bytes per image
      const res = await postImage(service.baseUrl, `cam-${i % 8}`, [head, body.subarray(16)]);
      if (res.status !== 202) throw new Error(`adaptive-link: post ${i} answered ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, poster));
}

interface BwlimitState {
  rate_bytes_per_sec: number | null;
  uplink: { capacity_bytes_per_sec: number | null } | null;
}

async function bandwidthState(service: ServiceChild): Promise<BwlimitState | null> {
  try {
    const res = await fetch(`${service.baseUrl}/admin/bwlimit`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    return res.ok ? ((await res.json()) as BwlimitState) : null;
  } catch {
    return null;
  }
}

/** Back-to-back 1 s windows from t = 0, each the mean of the samples that end inside it. */
function secondWindows(points: CurvePoint[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const last = points.at(-1)?.t ?? 0;
  for (let s = 0; s + 1 <= last; s++) {
    const inside = points.filter((p) => p.t > s && p.t <= s + 1);
    if (inside.length > 0) out.push([s, inside.reduce((a, p) => a + p.egressMbit, 0) / inside.length]);
  }
  return out;
}

/** The bench's view: the curve as rows, plus a CSV of every sample in `outDir`. */
export async function runAdaptiveBench(cleanup: Cleanup, outDir: string, quick: boolean): Promise<Row[]> {
  const row = (metric: string, value: string, target: string, result: string): Row =>
    ({ bench: 'adaptive', metric, spool: value, target, spoolResult: result, rclone: '-', rcloneResult: '' });
  const unavailable = await netnsUnavailable();
  if (unavailable) return [row('UPLINK_SHARE on an emulated link', `SKIPPED: ${unavailable}`, '-', '')];
  console.log('adaptive: UPLINK_SHARE=50%, UPLOAD_BWLIMIT=100Mbit, link 200 -> 100 -> 200 Mbit/s (tbf), 60 ms RTT ...');
  const r = await runAdaptiveLink({
    phases: [{ mbit: 200, seconds: quick ? 12 : 15 }, { mbit: 100, seconds: quick ? 11 : 20 }, { mbit: 200, seconds: quick ? 19 : 32 }],
    cap: '100Mbit', share: '50%', oneWayDelayMs: 30, imageBytes: 4_000_000,
  }, cleanup);
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'adaptive-curve.csv'), ['t_s,link_mbit,egress_wire_mbit,rate_mbit,capacity_estimate_mbit',
    ...r.points.map((p) => [p.t.toFixed(2), p.linkMbit, p.egressMbit.toFixed(1), p.rateMbit?.toFixed(1) ?? '', p.capacityMbit?.toFixed(1) ?? ''].join(','))].join('\n'));
  const [, drop = NaN, back = NaN] = r.phaseStarts;
  const between = (from: number, to: number): number[] => r.seconds.filter(([s]) => s >= from && s + 1 <= to).map(([, v]) => v);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const settled = r.seconds.find(([s]) => s >= drop && between(s, back).every((v) => v <= 55));
  const recovered = r.seconds.find(([s, v]) => s >= back && v >= 90);
  const settleS = settled ? settled[0] - drop : NaN;
  const recoverS = recovered ? recovered[0] - back : NaN;
  const fmt = (x: number): string => x.toFixed(1);
  // --quick's slow phase may end before drop + 10 s: no window to judge is no verdict, not a PASS.
  const slowPhaseRow = (windows: number[]): Row => windows.length === 0
    ? row('100 Mbit/s link: max / mean 1 s window from drop + 10 s (wire Mbit/s)', 'no full 1 s window (phase too short)', '<= 55', '')
    : row('100 Mbit/s link: max / mean 1 s window from drop + 10 s (wire Mbit/s)', `${fmt(Math.max(...windows))} / ${fmt(mean(windows))}`, '<= 55', Math.max(...windows) <= 55 ? 'PASS' : 'FAIL');
  return [
    row('200 Mbit/s link: mean egress, 5 s to the drop (wire Mbit/s)', fmt(mean(between(5, drop))), '~100', mean(between(5, drop)) >= 90 ? 'PASS' : 'FAIL'),
    row('after the drop to 100: s until every 1 s window <= 55 Mbit/s', fmt(settleS), '<= 10', settleS <= 10 ? 'PASS' : 'FAIL'),
    slowPhaseRow(between(drop + 10, back)),
    row('back to 200: s until a 1 s window >= 90 Mbit/s', fmt(recoverS), '<= 30', recoverS <= 30 ? 'PASS' : 'FAIL'),
    row('200 Mbit/s again: mean egress from recovery + 10 s (wire Mbit/s)', fmt(mean(between(back + 10, Infinity))), '~100', mean(between(back + 10, Infinity)) >= 90 ? 'PASS' : 'FAIL'),
    row('max 1 s window, whole run (wire Mbit/s; the cap is 100 Mbit/s of payload, ~104.5 on the wire)', fmt(Math.max(...r.seconds.map(([, v]) => v))), '<= 107', Math.max(...r.seconds.map(([, v]) => v)) <= 107 ? 'PASS' : 'FAIL'),
  ];
}
