/**
 * Issue 18, item 8: 256 uploads trickling 1.2 KB/s each (2.5 Mbit/s in all) once held every ingest slot, and
 * real cameras got 503 `too_busy` for as long as the trickle went on. Here 300 such connections come from
 * three loopback addresses, and reconnect whenever they are cut, as an attacker (or a fleet of broken
 * devices) would; 10 cameras on another address keep posting 1 MiB photos, honouring Retry-After. The
 * cameras' p99, from first attempt to 202, must stay under 2 s (or within 1 s of what the same cameras get
 * without the attack, measured first, when the machine itself is that slow). The service runs with its
 * defaults, as the systemd unit runs it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { unitSettings } from '../../bench/harness.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { s3Env, startTestS3 } from '../helpers/s3.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

const TRICKLER_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const TRICKLERS_PER_ADDRESS = 100;
const CAMERAS = 10;
const CAMERA_PHASE_MS = 10_000;
const BASELINE_MS = 4_000;
/** A camera gives up on one photo after this long: it counts as that long in the percentiles. */
const GIVE_UP_MS = 8_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One trickling upload: a 4 MB multipart body declared, then 600 bytes every 500 ms. Resolves with the status line it got. */
function trickle(port: number, localAddress: string, n: number): { done: Promise<string>; socket: net.Socket } {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  const boundary = 'trickle';
  let answer = '';
  let timer: NodeJS.Timeout | undefined;
  socket.on('data', (c: Buffer) => { answer += c.toString('latin1'); });
  socket.on('error', () => undefined);
  socket.once('connect', () => {
    socket.write(`POST /image HTTP/1.1\r\nHost: gw\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: 4000000\r\n\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ntrickler-${n}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
    socket.write(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    timer = setInterval(() => { if (socket.writable) socket.write(Buffer.alloc(600, 1)); }, 500);
  });
  const done = new Promise<string>((resolve) => socket.once('close', () => {
    clearInterval(timer);
    resolve(answer.split('\r\n')[0] ?? '');
  }));
  return { done, socket };
}

/** Keeps one trickling connection open from `localAddress` until `stop`, reconnecting a second (Retry-After) after each cut. */
async function trickler(port: number, localAddress: string, n: number, stop: { stopped: boolean; sockets: Set<net.Socket> }, answers: string[]): Promise<void> {
  while (!stop.stopped) {
    const t = trickle(port, localAddress, n);
    stop.sockets.add(t.socket);
    const line = await t.done;
    stop.sockets.delete(t.socket);
    if (!stop.stopped) answers.push(line);
    await sleep(1000);
  }
}

/** A camera: a 1 MiB photo, retried after Retry-After on 503, every 250 ms for `phaseMs`. Returns each photo's ms to 202. */
async function camera(baseUrl: string, i: number, phaseMs: number): Promise<Array<{ ms: number; status: number; attempts: number }>> {
  const out: Array<{ ms: number; status: number; attempts: number }> = [];
  const end = performance.now() + phaseMs;
  while (performance.now() < end) {
    const image = fakeJpeg(1024 * 1024);
    const started = performance.now();
    let status = 0;
    let attempts = 0;
    for (;;) {
      attempts++;
      const res = await postImage(baseUrl, `camera-${i}`, image);
      status = res.status;
      if (status !== 503 || performance.now() - started > GIVE_UP_MS) break;
      await sleep(Number(res.headers.get('retry-after') ?? '1') * 1000);
    }
    out.push({ ms: status === 202 ? performance.now() - started : GIVE_UP_MS, status, attempts });
    await sleep(250);
  }
  return out;
}

function percentiles(photos: ReadonlyArray<{ ms: number }>): { n: number; p50: number; p99: number } {
  const ms = photos.map((p) => p.ms).sort((a, b) => a - b);
  const at = (q: number): number => Math.round(ms[Math.min(ms.length - 1, Math.ceil(ms.length * q) - 1)] ?? NaN);
  return { n: ms.length, p50: at(0.5), p99: at(0.99) };
}

async function ingestsInFlight(baseUrl: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(/^image_spool_ingests_in_flight (\S+)/m.exec(text)?.[1] ?? NaN);
}

describe('trickling connections do not starve real cameras', () => {
  it(`${TRICKLER_ADDRESSES.length * TRICKLERS_PER_ADDRESS} tricklers from ${TRICKLER_ADDRESSES.length} addresses: ${CAMERAS} cameras on another address keep p99 < 2 s`, async () => {
    const s3 = await startTestS3();
    cleanups.push(() => s3.close());
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-trickle-'));
    cleanups.push(() => rm(spoolDir, { recursive: true, force: true }));
    const svc: ServiceProcess = await startServiceProcess({ ...unitSettings().env, ...s3Env(s3), SPOOL_DIR: spoolDir, SPOOL_MIN_FREE_BYTES: '0' });
    cleanups.push(async () => { svc.kill('SIGKILL'); await svc.exited; });

    // The same cameras alone first: what this machine gives them without an attack, right now.
    const alone = percentiles((await Promise.all(Array.from({ length: CAMERAS }, (_, i) => camera(svc.baseUrl, i, BASELINE_MS)))).flat());
    const stop = { stopped: false, sockets: new Set<net.Socket>() };
    const answers: string[] = [];
    const tricklers = TRICKLER_ADDRESSES.flatMap((address, a) =>
      Array.from({ length: TRICKLERS_PER_ADDRESS }, (_, i) => trickler(svc.port, address, a * TRICKLERS_PER_ADDRESS + i, stop, answers)));
    cleanups.push(async () => {
      stop.stopped = true;
      for (const s of stop.sockets) s.destroy();
      await Promise.all(tricklers);
    });
    // The attack is on: every slot (MAX_CONCURRENT_UPLOADS, 256 by default) is held by a trickler.
    await waitFor(async () => ((await ingestsInFlight(svc.baseUrl)) >= 250 ? true : undefined), 20_000, 'the tricklers to take the ingest slots');

    const photos = (await Promise.all(Array.from({ length: CAMERAS }, (_, i) => camera(svc.baseUrl, i, CAMERA_PHASE_MS)))).flat();
    const attacked = percentiles(photos);
    const tally = (prefix: string): number => answers.filter((a) => a.startsWith(prefix)).length;
    console.info(`trickle-starvation: cameras alone ${alone.n} photos, p50 ${alone.p50} ms, p99 ${alone.p99} ms; under attack ${attacked.n} photos, ` +
      `p50 ${attacked.p50} ms, p99 ${attacked.p99} ms, ${photos.filter((p) => p.attempts > 1).length} retried after a 503; ` +
      `tricklers answered 408 x${tally('HTTP/1.1 408')}, 503 x${tally('HTTP/1.1 503')}, other x${answers.length - tally('HTTP/1.1 408') - tally('HTTP/1.1 503')}`);
    expect(photos.filter((p) => p.status !== 202)).toEqual([]);
    // 2 s; on a machine so busy that the cameras alone need more than 1 s at p99, the attack may add 1 s to that.
    expect(attacked.p99).toBeLessThan(Math.max(2_000, alone.p99 + 1_000));
    expect(photos.length).toBeGreaterThanOrEqual(CAMERAS * 5);
  }, 90_000);
});
