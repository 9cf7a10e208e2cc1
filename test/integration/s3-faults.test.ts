/**
 * "Nothing lost under faults": the service uploads through a fault-injecting proxy (test/helpers/fault-proxy.ts)
 * in front of s3rver. Connections reset mid-body, S3 error answers (500 InternalError, 503 SlowDown),
 * stalls longer than UPLOAD_STALL_TIMEOUT_MS, and "stored, then the response dropped". Every acknowledged
 * image must end `uploaded`, be in S3 exactly once under its key, with the bytes the device sent.
 *
 * Replay a run's fault choices with its printed seed: FAULT_SEED=<seed> npx vitest run test/integration/s3-faults.test.ts
 * (the seed fixes the choice per request in arrival order; arrival order itself is real time).
 * Knobs: FAULT_IMAGES (default 320), FAULT_PROBABILITY (default 0.2).
 */
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { ImageRow } from '../../src/ledger/types.js';
import { delay, pollUntil, seededRandom, withTimeout } from '../helpers/crash-harness.js';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from '../helpers/fault-proxy.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, type InProcessService } from '../helpers/in-process.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

const IMAGES = Number(process.env['FAULT_IMAGES'] ?? 320);
const PROBABILITY = Number(process.env['FAULT_PROBABILITY'] ?? 0.2);
const SEED = process.env['FAULT_SEED'] !== undefined ? Number(process.env['FAULT_SEED']) >>> 0 : Math.floor(Math.random() * 2 ** 32);
const STALL_TIMEOUT_MS = 1500;
const DEVICES = ['cam-01', 'cam-02', 'gate_north', 'gate.south', 'dock-7', 'yard-cam-12'];

interface Ack {
  id: string;
  device_id: string;
  sha256: string;
  bytes: number;
}

interface LogLine {
  level?: number;
  msg?: string;
  err?: string;
  kind?: string;
  outcome?: string;
}

/** What the service process logged about uploads: its view of every fault. */
function uploadLog(svc: ServiceProcess): { retries: LogLine[]; ok: LogLine[]; errors: string[] } {
  const retries: LogLine[] = [];
  const ok: LogLine[] = [];
  const errors: string[] = [];
  for (const line of svc.logs.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    let entry: LogLine;
    try {
      entry = JSON.parse(line) as LogLine;
    } catch {
      continue;
    }
    if (entry.msg === 'upload failed; will retry') retries.push(entry);
    else if (entry.msg === 'upload ok') ok.push(entry);
    if ((entry.level ?? 0) >= 50 || line.includes('ALERT')) errors.push(line.slice(0, 400));
  }
  return { retries, ok, errors };
}

describe('S3 faults: nothing lost', () => {
  let s3: TestS3 | undefined;
  let proxy: FaultProxy | undefined;
  let svc: ServiceProcess | undefined;
  let spoolDir: string | undefined;
  let passed = false;

  afterEach(async () => {
    if (svc && svc.child.exitCode === null && svc.child.signalCode === null) {
      svc.kill('SIGKILL');
      await svc.exited;
    }
    await proxy?.close();
    await s3?.close();
    if (spoolDir && passed) await rm(spoolDir, { recursive: true, force: true });
    else if (spoolDir) console.warn(`s3-faults: spool kept for inspection: ${spoolDir} (seed ${SEED})`);
  });

  it(`uploads ${IMAGES} images exactly once, intact, with ${Math.round(PROBABILITY * 100)}% of S3 requests faulted`, async () => {
    const started = Date.now();
    console.log(`s3-faults: seed=${SEED} images=${IMAGES} p=${PROBABILITY} (replay with FAULT_SEED=${SEED})`);
    const rng = seededRandom(SEED ^ 0x5eed);
    s3 = await startTestS3();
    // S3 proper honours If-None-Match (s3rver does not): a resend after "stored, response dropped" gets 412
    // and the uploader's HEAD must prove the stored copy, so that path runs under faults too.
    proxy = await startFaultProxy({ upstream: s3.endpoint, seed: SEED, probability: PROBABILITY, stallHoldMs: 3 * STALL_TIMEOUT_MS, emulateIfNoneMatch: true });
    spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-faults-'));
    svc = await startServiceProcess({
      ...s3Env(s3),
      S3_ENDPOINT: proxy.endpoint,
      SPOOL_DIR: spoolDir,
      UPLOAD_BWLIMIT: '1Gbit',
      UPLOAD_CONCURRENCY: '8',
      UPLOAD_STALL_TIMEOUT_MS: String(STALL_TIMEOUT_MS),
      RETRY_BASE_MS: '20',
      RETRY_MAX_MS: '200',
      LOG_LEVEL: 'info',
    });
    const service = svc;
    const readLedger = <T>(fn: (db: Database.Database) => T): T => {
      const db = new Database(path.join(spoolDir ?? '', 'ledger.db'), { readonly: true, fileMustExist: true });
      try {
        db.pragma('busy_timeout = 2000');
        return fn(db);
      } finally {
        db.close();
      }
    };
    /** Open files of the service that are spooled images (a leaked stream shows as "(deleted)" once uploaded). */
    const openImageFiles = async (): Promise<string[]> => {
      const dir = `/proc/${service.child.pid ?? 0}/fd`;
      const links = await Promise.all((await readdir(dir)).map((fd) => readlink(path.join(dir, fd)).catch(() => '')));
      return links.filter((l) => l.includes(path.join(spoolDir ?? '', 'images')));
    };

    // ---- devices post; uploads run (and fail) meanwhile ----
    const plan = Array.from({ length: IMAGES }, () => ({
      deviceId: DEVICES[Math.floor(rng() * DEVICES.length)] as string,
      bytes: 2_000 + Math.floor(rng() * 98_000),
    }));
    const acks = new Map<string, Ack>();
    const problems: string[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < plan.length) {
        const { deviceId, bytes } = plan[next++] as { deviceId: string; bytes: number };
        const image = fakeJpeg(bytes);
        const res = await postImage(service.baseUrl, deviceId, image);
        if (res.status !== 202) {
          problems.push(`POST answered ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
          continue;
        }
        const ack = { id: String(res.body['id']), device_id: String(res.body['device_id']), sha256: String(res.body['sha256']), bytes: Number(res.body['bytes']) };
        if (ack.sha256 !== sha256Hex(image) || ack.bytes !== image.length || ack.device_id !== deviceId) problems.push(`ack ${JSON.stringify(res.body)} does not describe what was sent`);
        acks.set(ack.id, ack);
      }
    }));
    const ingestMs = Date.now() - started;

    // ---- the backlog drains despite the faults ----
    let counts = { backlog: -1, uploaded: -1, dead: -1 };
    await pollUntil(() => {
      counts = readLedger((db) => db.prepare(`SELECT
          sum(state IN ('queued', 'uploading')) AS backlog, sum(state = 'uploaded') AS uploaded, sum(state = 'dead') AS dead FROM images`).get() as typeof counts);
      return counts.backlog === 0 ? true : undefined;
    }, {
      timeoutMs: 50_000, stallMs: 15_000, intervalMs: 50, what: 'an empty backlog',
      progress: () => counts.uploaded, describe: () => `${JSON.stringify(counts)}; proxy: ${proxy?.summary() ?? ''}`,
    });
    const drainMs = Date.now() - started - ingestMs;
    // A stall's outcome (did the service give up, or the proxy's hold run out?) is known when its hold ends.
    const stallsSettled = pollUntil(() => (proxy && proxy.counters.stallsEndedByClient + proxy.counters.stallsEndedByProxy === proxy.counters.faults.stall ? true : undefined),
      { timeoutMs: 3 * STALL_TIMEOUT_MS + 3000, intervalMs: 50, what: 'stalled requests to end' });
    // Streams of failed attempts close asynchronously: give them a moment, then no spooled file may stay open.
    let openFds: string[] = [];
    const fdDeadline = Date.now() + 2000;
    do {
      openFds = await openImageFiles();
      if (openFds.length > 0) await delay(100);
    } while (openFds.length > 0 && Date.now() < fdDeadline);

    // ---- the checker ----
    // Every acknowledged image: `uploaded` in the status API, once in S3 under its key, the bytes sent.
    const notUploaded: string[] = [];
    const keys = new Map<string, Ack>();
    const ackList = [...acks.values()];
    let i = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (i < ackList.length) {
        const ack = ackList[i++] as Ack;
        const res = await fetch(`${service.baseUrl}/images/${ack.id}/status`);
        const status = (await res.json()) as { state?: string; s3_key?: string; sha256?: string; last_error?: string | null; attempts?: number };
        if (status.state !== 'uploaded') notUploaded.push(`${ack.id}: ${JSON.stringify(status)}`);
        if (status.sha256 !== ack.sha256) problems.push(`${ack.id}: status sha256 ${status.sha256 ?? '-'} != ack ${ack.sha256}`);
        if (status.s3_key) {
          if (keys.has(status.s3_key)) problems.push(`${ack.id}: key ${status.s3_key} shared with ${keys.get(status.s3_key)?.id ?? '?'}`);
          keys.set(status.s3_key, ack);
        }
      }
    }));
    const objects = await s3.listAll();
    const extraObjects = objects.filter((o) => !keys.has(o.Key ?? '')).map((o) => `${o.Key} (${o.Size} bytes)`);
    const listed = new Set(objects.map((o) => o.Key ?? ''));
    const missingObjects = [...keys.keys()].filter((k) => !listed.has(k));
    const badBytes: string[] = [];
    const objectList = [...objects];
    let j = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (j < objectList.length) {
        const key = objectList[j++]?.Key ?? '';
        const ack = keys.get(key);
        if (!ack) continue;
        const body = await s3?.getBytes(key) ?? Buffer.alloc(0);
        if (body.length !== ack.bytes || sha256Hex(body) !== ack.sha256) badBytes.push(`${key}: ${body.length} bytes sha256 ${sha256Hex(body)}, sent ${ack.bytes} bytes ${ack.sha256}`);
      }
    }));
    const attemptsTotal = readLedger((db) => (db.prepare('SELECT coalesce(sum(attempts), 0) AS n FROM images').get() as { n: number }).n);
    const rowCount = readLedger((db) => (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n);
    const leftFiles = await readdir(path.join(spoolDir, 'images'));
    await stallsSettled;

    service.kill('SIGTERM');
    const exit = await withTimeout(service.exited, 20_000, 'exit after SIGTERM');

    // ---- the service's own account of every fault ----
    const log = uploadLog(service);
    const c = proxy.counters;
    const totalFaults = c.faults.reset + c.faults.error + c.faults.stall + c.faults.drop;
    const retryClass = (pattern: RegExp): number => log.retries.filter((r) => pattern.test(r.err ?? '')).length;
    const retriesBy = {
      stalled: retryClass(/upload_stalled/),
      http500: retryClass(/\(HTTP 500\)/),
      http503: retryClass(/\(HTTP 503\)/),
      network: log.retries.filter((r) => !/upload_stalled|\(HTTP \d+\)/.test(r.err ?? '')).length,
    };
    const netErrors: Record<string, number> = {};
    for (const r of log.retries) {
      if (/upload_stalled|\(HTTP \d+\)/.test(r.err ?? '')) continue;
      const k = (r.err ?? '?').slice(0, 40);
      netErrors[k] = (netErrors[k] ?? 0) + 1;
    }
    const outcomes: Record<string, number> = {};
    for (const o of log.ok) outcomes[o.outcome ?? '?'] = (outcomes[o.outcome ?? '?'] ?? 0) + 1;
    const headsAnswered = proxy.events.filter((e) => e.method === 'HEAD' && e.outcome === 'pass').length;
    const historyOf = (id: string): string[] => service.logs.join('').split('\n').filter((l) => l.includes(id) && l.includes('upload')).map((l) => l.slice(0, 300));
    // No spooled file may stay open (a PUT cut mid-body used to leak its read stream; see the test below).
    const leakedByReset: string[] = [];
    const leakedOther: string[] = [];
    for (const fd of openFds) {
      const id = path.basename(fd).split('.')[0] ?? '';
      const history = historyOf(id);
      (history.some((l) => l.includes('will retry') && /ECONNRESET|EPIPE/.test(l)) ? leakedByReset : leakedOther).push(fd);
      console.warn(`s3-faults: spooled file still open: ${fd}\n  service: ${history.join('\n  service: ')}\n  proxy: ${JSON.stringify(proxy.events.filter((e) => e.target.includes(id)))}`);
    }

    console.log(`s3-faults: proxy ${proxy.summary()}`);
    console.log(`s3-faults: acked=${acks.size} rows=${rowCount} objects=${objects.length} attempts=${attemptsTotal} retries=${log.retries.length} ` +
      `retries_by=${JSON.stringify(retriesBy)} network_errors=${JSON.stringify(netErrors)} outcomes=${JSON.stringify(outcomes)} ` +
      `open_files_after_reset=${leakedByReset.length} ingest_ms=${ingestMs} drain_ms=${drainMs} total_ms=${Date.now() - started} seed=${SEED}`);
    if (log.errors.length > 0) console.warn(`s3-faults: error log lines:\n${log.errors.slice(0, 10).join('\n')}`);

    const some = (list: string[]): string[] => (list.length > 10 ? [...list.slice(0, 10), `... and ${list.length - 10} more`] : list);
    expect({
      problems: some(problems), notUploaded: some(notUploaded), dead: counts.dead, extraObjects: some(extraObjects), missingObjects: some(missingObjects),
      badBytes: some(badBytes), objects: objects.length, rows: rowCount, leakedOther, leftFiles: some(leftFiles), errorLogLines: some(log.errors), exit,
      upstreamErrors: c.upstreamErrors, rawTunnels: c.rawTunnels,
    }, `s3-faults findings (seed ${SEED}, spool ${spoolDir})`).toEqual({
      problems: [], notUploaded: [], dead: 0, extraObjects: [], missingObjects: [], badBytes: [], objects: IMAGES, rows: IMAGES,
      leakedOther: [], leftFiles: [], errorLogLines: [], exit: 0, upstreamErrors: 0, rawTunnels: 0,
    });
    expect(leakedByReset, 'spooled files left open after a reset mid-body').toEqual([]);
    expect(acks.size).toBe(IMAGES);

    // Each fault cost exactly one failed attempt, was seen as what it was and retried as transient; nothing else failed.
    expect(log.retries.filter((r) => r.kind !== 'transient').map((r) => `${r.kind ?? '?'}: ${r.err ?? '?'}`), 'failures not classified transient').toEqual([]);
    expect({
      retries: log.retries.length,
      attemptsMinusImages: attemptsTotal - IMAGES,
      uploadsLogged: log.ok.length,
      stalled: retriesBy.stalled,
      http500: retriesBy.http500,
      http503: retriesBy.http503,
      network: retriesBy.network,
      alreadyPresent: outcomes['already-present'] ?? 0,
      stallsTheServiceMissed: c.stallsEndedByProxy,
    }, 'service failures vs injected faults').toEqual({
      retries: totalFaults,
      attemptsMinusImages: totalFaults,
      uploadsLogged: IMAGES,
      // Every stall, of a PUT or of the HEAD after a 412, is ended by the service's stall watchdog.
      stalled: c.stallsEndedByClient,
      http500: c.errorsByStatus['500'] ?? 0,
      http503: c.errorsByStatus['503'] ?? 0,
      network: c.faults.reset + c.faults.drop,
      alreadyPresent: headsAnswered,
      stallsTheServiceMissed: 0,
    });
    for (const kind of ['reset', 'error', 'stall', 'drop'] as const) expect(c.faults[kind], `${kind} faults injected`).toBeGreaterThanOrEqual(3);
    expect(c.preconditionFailed, 'emulated 412s (resends after a dropped response)').toBeGreaterThan(0);
    passed = true;
  }, 90_000);
});

// ---- one fault at a time, on one image, in-process ----

interface Rig {
  s3: TestS3;
  proxy: FaultProxy;
  svc: InProcessService;
  /** The error of every failed attempt, in order (the uploader's image:retry events). */
  retries: string[];
}

describe('S3 faults, one at a time', () => {
  let rig: Rig | undefined;

  afterEach(async () => {
    await rig?.svc.close();
    await rig?.proxy.close();
    await rig?.s3.close();
    rig = undefined;
  });

  const start = async (proxyOptions: Omit<FaultProxyOptions, 'upstream'>, env: Record<string, string> = {}): Promise<Rig> => {
    const s3 = await startTestS3();
    const proxy = await startFaultProxy({ upstream: s3.endpoint, ...proxyOptions });
    const svc = await startInProcess(s3, {
      S3_ENDPOINT: proxy.endpoint, UPLOAD_BWLIMIT: '1Gbit', UPLOAD_CONCURRENCY: '1', UPLOAD_STALL_TIMEOUT_MS: '500',
      RETRY_BASE_MS: '20', RETRY_MAX_MS: '200', ...env,
    });
    const retries: string[] = [];
    svc.service.uploader.on('image:retry', (_row, error) => retries.push(error));
    rig = { s3, proxy, svc, retries };
    return rig;
  };

  /** Posts one image, waits for it to settle (uploaded or dead), and checks S3 holds exactly it. */
  const uploadOne = async (r: Rig, bytes = 200_000, timeoutMs = 10_000): Promise<ImageRow> => {
    const image = fakeJpeg(bytes);
    const { status, body } = await postImage(r.svc.baseUrl, 'cam-fault', image);
    expect(status).toBe(202);
    const id = String(body['id']);
    const row = await pollUntil(() => {
      const current = r.svc.service.ledger.get(id);
      return current?.state === 'uploaded' || current?.state === 'dead' ? current : undefined;
    }, {
      timeoutMs, what: `image ${id} to be uploaded or dead`,
      describe: () => `state ${r.svc.service.ledger.get(id)?.state ?? '-'}, failed attempts ${JSON.stringify(r.retries)}; proxy: ${r.proxy.summary()}`,
    });
    if (row.state === 'uploaded') {
      const objects = await r.s3.listAll();
      expect(objects.map((o) => o.Key)).toEqual([row.s3_key]);
      expect(sha256Hex(await r.s3.getBytes(row.s3_key))).toBe(sha256Hex(image));
    }
    return row;
  };

  it('reset mid-body: retried; the cut request never reached S3', async () => {
    const r = await start({ schedule: [{ kind: 'reset', method: 'PUT', at: 0.5 }] });
    const row = await uploadOne(r);
    expect(row.state).toBe('uploaded');
    expect(row.attempts).toBe(2);
    expect(r.retries).toHaveLength(1);
    expect(r.retries[0]).toMatch(/ECONNRESET|EPIPE|socket hang up/);
    expect(r.proxy.counters.faults.reset).toBe(1);
    expect(r.proxy.counters.forwarded).toBe(1);
  });

  it('S3 answers 503 SlowDown, then 500 InternalError: both retried as transient', async () => {
    const r = await start({ schedule: [{ kind: 'error', method: 'PUT', status: 503 }, { kind: 'error', method: 'PUT', status: 500 }] });
    const row = await uploadOne(r);
    expect(row.state).toBe('uploaded');
    expect(row.attempts).toBe(3);
    expect(r.retries).toEqual([expect.stringMatching(/^SlowDown \(HTTP 503\)/), expect.stringMatching(/^InternalError \(HTTP 500\)/)]);
    expect(r.proxy.counters.forwarded).toBe(1);
  });

  it('stall mid-body: the stall watchdog aborts it and the retry succeeds', async () => {
    const r = await start({ schedule: [{ kind: 'stall', method: 'PUT', at: 0.5 }], stallHoldMs: 30_000 });
    const t0 = Date.now();
    const row = await uploadOne(r, 2_000_000);
    expect(row.state).toBe('uploaded');
    expect(row.attempts).toBe(2);
    expect(r.retries).toEqual([expect.stringMatching(/^upload_stalled/)]);
    expect(Date.now() - t0).toBeLessThan(5_000); // the 500 ms watchdog, not the proxy's 30 s hold
    expect(r.proxy.counters.forwarded).toBe(1);
  });

  it('stored, then the response dropped (s3rver, no If-None-Match): the resend rewrites the same key with the same bytes', async () => {
    const r = await start({ schedule: [{ kind: 'drop', method: 'PUT' }] });
    const row = await uploadOne(r);
    expect(row.state).toBe('uploaded');
    expect(row.attempts).toBe(2);
    expect(r.retries).toEqual([expect.stringMatching(/ECONNRESET|socket hang up/)]);
    expect(r.proxy.counters.forwarded).toBe(2);
  });

  it('stored, then the response dropped (S3 with If-None-Match): 412, and a HEAD proves the stored copy', async () => {
    const r = await start({ schedule: [{ kind: 'drop', method: 'PUT' }, { kind: 'error', method: 'HEAD', status: 503 }], emulateIfNoneMatch: true });
    const row = await uploadOne(r);
    expect(row.state).toBe('uploaded');
    // PUT (stored, answer dropped); PUT 412 + HEAD 503; PUT 412 + HEAD 200.
    expect(row.attempts).toBe(3);
    expect(r.retries).toEqual([expect.stringMatching(/ECONNRESET|socket hang up/), expect.stringMatching(/\(HTTP 503\)/)]);
    expect(r.proxy.counters.preconditionFailed).toBe(2);
    expect(r.proxy.counters.requestsByMethod).toEqual({ PUT: 3, HEAD: 2 });
    expect(r.proxy.counters.forwarded).toBe(2); // the first PUT and the last HEAD
  });

  it('a 409 ConditionalRequestConflict (S3: "retry") is transient, even after earlier network failures', async () => {
    // AWS: a PUT with If-None-Match that races another write of the key gets 409 ConditionalRequestConflict,
    // "on a 409 failure you should retry". As a permanent error it would kill the image on its MAX_ATTEMPTS-th try.
    const r = await start({
      schedule: [{ kind: 'reset', method: 'PUT' }, { kind: 'reset', method: 'PUT' }, { kind: 'error', method: 'PUT', status: 409, code: 'ConditionalRequestConflict' }],
    }, { MAX_ATTEMPTS: '3' });
    const row = await uploadOne(r);
    expect(row.last_error).toBeNull();
    expect(row.state).toBe('uploaded');
    expect(row.attempts).toBe(4);
    expect(r.retries[2]).toMatch(/^ConditionalRequestConflict \(HTTP 409\)/);
  });

  // Found by this suite: when a PUT fails while its body is still being written (a reset mid-body: "write
  // ECONNRESET" / EPIPE), the SDK's body.pipe(request) only unpipes, so the body (and the spooled file's
  // read stream) stayed open for the life of the process. put-image.ts now destroys the body once send() settles.
  it('a reset mid-body leaves no spooled file open', async () => {
    const r = await start({ schedule: [{ kind: 'reset', method: 'PUT', at: 0.2 }] });
    const row = await uploadOne(r, 4_000_000);
    expect(row.state).toBe('uploaded');
    expect(r.retries).toEqual([expect.stringMatching(/ECONNRESET|EPIPE/)]);
    await delay(500);
    const dir = '/proc/self/fd';
    const links = await Promise.all((await readdir(dir)).map((fd) => readlink(path.join(dir, fd)).catch(() => '')));
    expect(links.filter((l) => l.includes(row.path))).toEqual([]);
  });

  // Found by this suite: after a 412 the HEAD ran without the stall watchdog, so a HEAD that got no answer
  // could hang the worker with the image `uploading`. It now runs under the same watchdog as the PUT.
  it('a stalled HEAD after a 412 is aborted by the stall watchdog like a stalled PUT', async () => {
    const r = await start({ schedule: [{ kind: 'drop', method: 'PUT' }, { kind: 'stall', method: 'HEAD' }], emulateIfNoneMatch: true, stallHoldMs: 30_000 },
      { SHUTDOWN_GRACE_MS: '200' });
    const row = await uploadOne(r, 200_000, 4_000); // the watchdog is 500 ms
    expect(row.state).toBe('uploaded');
    expect(r.retries[1]).toMatch(/upload_stalled/);
  });
});

// ---- the proxy itself: framing on a keep-alive connection, and what a faulted request leaves in s3rver ----

/** Sends raw bytes on one connection and collects what comes back until `done` says so or the peer closes. */
function rawRequest(port: number, bytes: Buffer, done: (received: string) => boolean, timeoutMs = 5000): Promise<{ received: string; closed: boolean; error: string | null }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let received = '';
    let error: string | null = null;
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, closed, error });
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (done(received)) finish(false);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    socket.on('close', () => finish(true));
    socket.write(bytes);
  });
}

describe('fault proxy', () => {
  let s3: TestS3 | undefined;
  let proxy: FaultProxy | undefined;
  let client: S3Client | undefined;

  afterEach(async () => {
    client?.destroy();
    await proxy?.close();
    await s3?.close();
  });

  it('never lets a reset request reach s3rver: a stored object keeps its bytes (s3rver would truncate it)', async () => {
    s3 = await startTestS3();
    proxy = await startFaultProxy({ upstream: s3.endpoint });
    client = new S3Client({
      endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, maxAttempts: 1,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const first = fakeJpeg(300_000);
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'k.jpg', Body: first }));
    // The same connection (keep-alive) serves a HEAD, then an injected 503 for a HEAD (no body), then a GET.
    expect((await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'k.jpg' }))).ContentLength).toBe(first.length);
    proxy.schedule({ kind: 'error', method: 'HEAD', status: 503 });
    await expect(client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'k.jpg' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 503 } });
    expect((await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'k.jpg' }))).ContentLength).toBe(first.length);
    // 3 MB: the SDK sends Expect: 100-continue, which the proxy answers itself.
    proxy.schedule({ kind: 'reset', method: 'PUT', at: 0.9 }, { kind: 'error', method: 'PUT', status: 500 });
    await expect(client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'k.jpg', Body: fakeJpeg(3_000_000) }))).rejects.toThrow();
    await expect(client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'k.jpg', Body: fakeJpeg(3_000_000) })))
      .rejects.toMatchObject({ name: 'InternalError', $metadata: { httpStatusCode: 500 } });
    expect(sha256Hex(await s3.getBytes('k.jpg'))).toBe(sha256Hex(first));
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'k.jpg' }));
    expect(sha256Hex(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()))).toBe(sha256Hex(first));
    expect(proxy.counters).toMatchObject({ forwarded: 4, faults: { reset: 1, error: 2, stall: 0, drop: 0 }, upstreamErrors: 0, rawTunnels: 0 });
  });

  it('answers an Expect: 100-continue request it faults with an error at once, and frames chunked bodies', async () => {
    s3 = await startTestS3();
    proxy = await startFaultProxy({ upstream: s3.endpoint, schedule: [{ kind: 'error', status: 503 }] });
    const early = await rawRequest(proxy.port, Buffer.from('PUT /images/x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n'), () => false);
    expect(early.received).toMatch(/^HTTP\/1\.1 503 Slow Down\r\n[\s\S]*Connection: close\r\n\r\n<\?xml[\s\S]*<Code>SlowDown<\/Code>/);
    expect(early.closed).toBe(true);
    // Two requests on one connection, the first with a chunked body: both answered, in order, as s3rver answers them.
    const two = Buffer.from('PUT /images/chunked.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' +
      'GET /images/nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const statuses = (text: string): string[] => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1] ?? '');
    const viaProxy = await rawRequest(proxy.port, two, (text) => statuses(text).length >= 2 && text.endsWith('</Error>'));
    const direct = await rawRequest(s3.port, two, (text) => statuses(text).length >= 2 && text.endsWith('</Error>'));
    expect(statuses(viaProxy.received)).toEqual(statuses(direct.received));
    expect(statuses(viaProxy.received)).toHaveLength(2);
    expect(viaProxy.closed).toBe(false);
    expect(proxy.counters.forwarded).toBe(2);
    expect(proxy.counters.requests).toBe(3);
  });
});
