/**
 * The durability proof: the service is SIGKILLed again and again while devices post images and while
 * uploads stream to S3, always restarted on the same spool. At the end every acknowledged image must be
 * in S3 exactly once, at its ledger key, with the bytes the device sent, and the spool must be empty.
 * One post in six resends an acknowledged image's bytes from another device: that receipt must be a
 * duplicate row pointing at an original that is safe in S3 (stored and uploaded once, crash or not).
 *
 * Reproduce a failure with the printed seed: CRASH_SEED=<seed> npx vitest run test/crash
 * (kill timing is real time, so a seed replays the same choices, not the same interleaving).
 * Other knobs: CRASH_CYCLES (default 24), CRASH_FAULTS (share of S3 requests given a fault by
 * test/helpers/fault-proxy.ts: resets, 5xx, stalls, stored-then-dropped; default 0.05), and
 * IMAGE_SPOOL_TEST_CLI (run another build's dist/src/cli.js). `npm run torture -- --cycles 200` runs this
 * file with 200 cycles.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_OVERRIDE_ENV, cliOverride, delay, pollUntil, seededRandom, startCrashService, withTimeout } from '../helpers/crash-harness.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import type { ServiceProcess } from '../helpers/service-process.js';

const CYCLES = Number(process.env['CRASH_CYCLES'] ?? 24);
const FAULTS = Number(process.env['CRASH_FAULTS'] ?? 0.05);
const SEED = process.env['CRASH_SEED'] !== undefined ? Number(process.env['CRASH_SEED']) >>> 0 : Math.floor(Math.random() * 2 ** 32);
const BWLIMIT_BYTES_PER_S = 4_000_000;
const DEVICES = ['cam-01', 'cam-02', 'cam-03', 'gate_north', 'gate.south', 'dock-7', 'yard-cam-12', 'A1'];

type Mode = 'ingest' | 'upload' | 'early';

interface Ack {
  id: string;
  device_id: string;
  sha256: string;
  bytes: number;
  cycle: number;
  /** Set when another device had sent these bytes first (cross-device dedup): the original's id. */
  duplicate_of: string | null;
}

interface Row {
  id: string;
  device_id: string;
  sha256: string;
  bytes: number;
  path: string | null;
  s3_key: string | null;
  state: string;
  attempts: number;
  last_error: string | null;
  duplicate_of: string | null;
}

interface CycleStats {
  mode: Mode;
  posted: number;
  acked: number;
  cut: number;
  ingestsInFlightAtKill: number;
  uploadingAtKill: number | null;
  killAfterMs: number;
}

describe('crash resume (SIGKILL cycles on one spool, one S3)', () => {
  let s3: TestS3;
  let faults: FaultProxy;
  let spoolDir: string;
  let current: ServiceProcess | null = null;
  let passed = false;
  const rng = seededRandom(SEED);
  const int = (min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));

  beforeAll(async () => {
    console.log(`crash-resume: seed=${SEED} cycles=${CYCLES} faults=${FAULTS} (replay with CRASH_SEED=${SEED})`);
    const cli = cliOverride();
    if (cli) console.warn(`crash-resume: ${CLI_OVERRIDE_ENV} is set: testing ${cli}, not this checkout's build`);
    s3 = await startTestS3();
    // S3 proper answers 412 to a resend with If-None-Match: *; s3rver does not, so the proxy does.
    faults = await startFaultProxy({ upstream: s3.endpoint, seed: SEED, probability: FAULTS, stallHoldMs: 5000, emulateIfNoneMatch: true });
    spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-crash-'));
  });

  afterAll(async () => {
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.kill('SIGKILL');
      await current.exited;
    }
    await faults?.close();
    await s3?.close();
    if (passed) await rm(spoolDir, { recursive: true, force: true });
    else if (spoolDir) console.warn(`crash-resume: spool kept for inspection: ${spoolDir} (seed ${SEED})`);
  });

  const serviceEnv = (): Record<string, string> => ({
    ...s3Env(s3),
    S3_ENDPOINT: faults.endpoint,
    // A stalled request is noticed after 1.5 s of unthrottled silence instead of 30 s.
    UPLOAD_STALL_TIMEOUT_MS: '1500',
    SPOOL_MIN_FREE_BYTES: '0',
    SPOOL_DIR: spoolDir,
    UPLOAD_BWLIMIT: `${BWLIMIT_BYTES_PER_S / 1_000_000}MB`,
    UPLOAD_CONCURRENCY: '4',
    RETRY_BASE_MS: '50',
    RETRY_MAX_MS: '500',
    // The brief asked for warn, but startServiceProcess detects readiness by the info-level
    // "image-spool listening" line; at warn it never sees it. Info lines are cheap (one per upload).
    LOG_LEVEL: 'info',
  });

  /** A short-lived read-only look at the ledger; safe while the service runs (WAL). */
  const readLedger = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(spoolDir, 'ledger.db'), { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 2000');
      return fn(db);
    } finally {
      db.close();
    }
  };
  const count = (sql: string): number => readLedger((db) => (db.prepare(sql).get() as { n: number }).n);

  it(`loses no acknowledged image across ${CYCLES} SIGKILLs`, async () => {
    const started = Date.now();
    const acks = new Map<string, Ack>();
    /** Recently acknowledged originals (bytes kept) that later posts resend from other devices. */
    const sentOriginals: Array<{ ack: Ack; image: Buffer }> = [];
    const problems: string[] = [];
    const unexpected: string[] = []; // HTTP answers other than 202 (a SIGKILL should only cut requests)
    const errorLogs: string[] = [];
    const stats: CycleStats[] = [];

    // Mode mix, shuffled by the seed: kills while bursts of POSTs are in flight, kills while only uploads
    // run, and a few kills right after the listener opens (recovery just requeued, uploads just claimed).
    const early = Math.max(2, Math.round(CYCLES * 0.1));
    const ingest = Math.ceil((CYCLES - early) / 2);
    const modes: Mode[] = [...Array<Mode>(ingest).fill('ingest'), ...Array<Mode>(CYCLES - early - ingest).fill('upload'), ...Array<Mode>(early).fill('early')];
    for (let i = modes.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [modes[i], modes[j]] = [modes[j] as Mode, modes[i] as Mode];
    }

    const collectErrors = (svc: ServiceProcess, label: string): void => {
      for (const line of svc.logs.join('').split('\n')) {
        if (/"level":(50|60)/.test(line) || line.includes('ALERT')) errorLogs.push(`${label}: ${line.slice(0, 400)}`);
      }
    };

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const mode = modes[cycle] as Mode;
      // Every random choice of the cycle is drawn here, in a fixed order, so request timing cannot shift
      // the PRNG stream: the same seed makes the same choices (not the same interleaving: kills are real time).
      const plan = {
        width: int(8, 16), extra: rng(), killAtFraction: rng(),
        // Half the ingest kills are sent the moment the client reads an ack (where an ack that went out before
        // its commit would show), the others up to 60 ms later.
        killOnAck: rng() < 0.5, ingestKillDelayMs: int(0, 60),
        burstFirst: rng() < 0.6, burstSize: int(8, 16), uploadKillDelayMs: int(50, 1500), earlyKillDelayMs: int(0, 40),
        images: Array.from({ length: 48 }, () => ({ deviceId: DEVICES[int(0, DEVICES.length - 1)] as string, bytes: int(50_000, 600_000) })),
      };
      const svc = await startCrashService(serviceEnv());
      current = svc;
      const s: CycleStats = { mode, posted: 0, acked: 0, cut: 0, ingestsInFlightAtKill: 0, uploadingAtKill: null, killAfterMs: 0 };
      let inFlight = 0;
      let killed = false;
      let killOnAckCount: number | null = null;
      const requests: Promise<void>[] = [];

      const postOne = (): Promise<void> => {
        const planned = plan.images[s.posted % plan.images.length] as { deviceId: string; bytes: number };
        // Every sixth post sends bytes another device already had acknowledged: a duplicate, stored once.
        const original = s.posted % 6 === 5 ? sentOriginals[int(0, sentOriginals.length - 1)] : undefined;
        // A device of its own each time: the same device sending the same bytes again would be a resend (200).
        const deviceId = original ? `dup-${cycle}-${s.posted}` : planned.deviceId;
        const image = original ? original.image : fakeJpeg(planned.bytes);
        const expected = { sha256: sha256Hex(image), bytes: image.length, duplicateOf: original?.ack.id ?? null };
        s.posted++;
        inFlight++;
        const work = postImage(svc.baseUrl, deviceId, image).then((res) => {
          if (res.status !== 202) {
            unexpected.push(`cycle ${cycle}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
            return;
          }
          const body = res.body as { id?: unknown; device_id?: unknown; sha256?: unknown; bytes?: unknown; status?: unknown; duplicate_of?: unknown };
          const ack: Ack = { id: String(body.id), device_id: String(body.device_id), sha256: String(body.sha256), bytes: Number(body.bytes), cycle, duplicate_of: typeof body.duplicate_of === 'string' ? body.duplicate_of : null };
          if (ack.device_id !== deviceId || ack.sha256 !== expected.sha256 || ack.bytes !== expected.bytes || ack.duplicate_of !== expected.duplicateOf ||
              (expected.duplicateOf === null && body.status !== 'queued')) {
            problems.push(`cycle ${cycle}: ack ${JSON.stringify(body)} does not describe what was sent (${deviceId}, ${expected.bytes} bytes, sha256 ${expected.sha256}, duplicate of ${expected.duplicateOf ?? '-'})`);
          }
          if (ack.duplicate_of === null) {
            sentOriginals.push({ ack, image });
            if (sentOriginals.length > 16) sentOriginals.shift();
          }
          if (acks.has(ack.id)) problems.push(`cycle ${cycle}: id ${ack.id} acknowledged twice`);
          acks.set(ack.id, ack);
          s.acked++;
          if (killOnAckCount !== null && s.acked >= killOnAckCount && !killed) kill();
        }, () => {
          s.cut++; // cut by the kill: never acknowledged, so the service owes nothing for it
        }).finally(() => {
          inFlight--;
        });
        requests.push(work);
        return work;
      };
      const burst = (): Promise<unknown> => {
        const batch: Promise<void>[] = [];
        for (let i = 0; i < plan.burstSize && !killed; i++) batch.push(postOne());
        return Promise.all(batch);
      };
      const kill = (): void => {
        s.ingestsInFlightAtKill = inFlight;
        killed = true;
        svc.kill('SIGKILL');
      };

      const cycleStart = Date.now();
      if (mode === 'ingest') {
        // A stream of POSTs, `width` at a time; the kill lands after a random number of acks, so requests
        // are always in flight (mid-body, mid-fsync, mid-commit, mid-answer) when it comes.
        const width = plan.width;
        const planned = 2 * width + Math.floor(plan.extra * width);
        const killAtAcks = Math.floor(plan.killAtFraction * (planned - width + 1)); // leaves up to `width` in flight
        let launched = 0;
        const lane = async (): Promise<void> => {
          while (!killed && launched < planned) {
            launched++;
            await postOne();
          }
        };
        if (plan.killOnAck) killOnAckCount = Math.max(1, killAtAcks);
        for (let i = 0; i < width; i++) void lane();
        await pollUntil(() => (killed || s.acked >= killAtAcks || inFlight === 0 ? true : undefined),
          { timeoutMs: 15_000, intervalMs: 2, what: `${killAtAcks} acks in cycle ${cycle}` });
        if (!killed) {
          await delay(plan.ingestKillDelayMs);
          kill();
        }
      } else if (mode === 'upload') {
        // Sometimes a burst first (ingested to completion), then a kill while only uploads run.
        if (plan.burstFirst) await burst();
        await pollUntil(() => (count(`SELECT count(*) AS n FROM images WHERE state IN ('queued', 'uploading')`) === 0
          || count(`SELECT count(*) AS n FROM images WHERE state = 'uploading'`) > 0 ? true : undefined),
          { timeoutMs: 10_000, what: `an upload in flight in cycle ${cycle}` });
        await delay(plan.uploadKillDelayMs);
        kill();
      } else {
        // Right after startup: a burst just started, uploads just claimed from the recovered queue.
        void burst();
        await delay(plan.earlyKillDelayMs);
        kill();
      }
      s.killAfterMs = Date.now() - cycleStart;
      const exit = await withTimeout(svc.exited, 10_000, `cycle ${cycle} exit after SIGKILL`);
      expect(exit, `cycle ${cycle} should end by SIGKILL; log tail:\n${svc.logs.join('').slice(-2000)}`).toBe('SIGKILL');
      await withTimeout(Promise.all(requests), 15_000, `cycle ${cycle} requests to settle`);
      collectErrors(svc, `cycle ${cycle}`);
      s.uploadingAtKill = existsSync(path.join(spoolDir, 'ledger.db'))
        ? count(`SELECT count(*) AS n FROM images WHERE state = 'uploading'`)
        : null;
      stats.push(s);
      current = null;
    }

    // The last start: no kill. Wait until the backlog is empty (failing early if uploads stop progressing).
    const crashPhaseMs = Date.now() - started;
    const final = await startCrashService(serviceEnv());
    current = final;
    const drainStart = Date.now();
    // Long runs leave a long backlog: allow its bytes at the budget three times over (faults, restarts), and
    // still fail within 10 s when uploads stop making progress.
    const backlogBytes = count(`SELECT coalesce(sum(bytes), 0) AS n FROM images WHERE state IN ('queued', 'uploading')`);
    const drainTimeoutMs = 60_000 + Math.ceil((backlogBytes / BWLIMIT_BYTES_PER_S) * 3000);
    let backlog = -1;
    let uploaded = -1;
    let drainError: unknown = null;
    try {
      await pollUntil(() => {
        [backlog, uploaded] = readLedger((db) => [
          (db.prepare('SELECT count(*) AS n FROM backlog').get() as { n: number }).n,
          (db.prepare(`SELECT count(*) AS n FROM images WHERE state = 'uploaded'`).get() as { n: number }).n,
        ]);
        return backlog === 0 ? true : undefined;
      }, {
        timeoutMs: drainTimeoutMs, stallMs: 10_000, intervalMs: 50, what: 'an empty backlog',
        progress: () => uploaded, describe: () => `backlog ${backlog}, uploaded ${uploaded}`,
      });
    } catch (err) {
      drainError = err; // report it with the checker's findings below, which say which images are stuck
    }
    const drainMs = Date.now() - drainStart;
    final.kill('SIGTERM');
    const finalExit = await withTimeout(final.exited, 20_000, 'exit after SIGTERM');
    collectErrors(final, 'final');
    current = null;

    // ---- the checker ----
    const rows = readLedger((db) => db.prepare('SELECT id, device_id, sha256, bytes, path, s3_key, state, attempts, last_error, duplicate_of FROM images').all() as Row[]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const byKey = new Map<string, Row[]>();
    for (const r of rows) if (r.s3_key !== null) byKey.set(r.s3_key, [...(byKey.get(r.s3_key) ?? []), r]);
    const states: Record<string, number> = {};
    for (const r of rows) states[r.state] = (states[r.state] ?? 0) + 1;
    const uploadedRows = rows.filter((r) => r.state === 'uploaded');
    const objects = await s3.listAll();
    const objectSize = new Map(objects.map((o) => [o.Key ?? '', o.Size ?? -1]));

    const missing: string[] = [];
    for (const ack of acks.values()) {
      const row = byId.get(ack.id);
      if (!row) {
        missing.push(`${ack.id} (cycle ${ack.cycle}): acknowledged but no ledger row`);
        continue;
      }
      if (ack.duplicate_of !== null) {
        // Its own row, pointing at an original with the same bytes that is safe in S3 (its object is hashed below).
        const original = byId.get(ack.duplicate_of);
        if (row.state !== 'duplicate' || row.duplicate_of !== ack.duplicate_of || row.device_id !== ack.device_id) {
          problems.push(`${ack.id}: duplicate ack (of ${ack.duplicate_of}, ${ack.device_id}) but row is ${row.state} of ${row.duplicate_of ?? '-'} (${row.device_id})`);
        }
        if (!original || original.state !== 'uploaded' || original.s3_key === null || !objectSize.has(original.s3_key)) {
          missing.push(`${ack.id} (cycle ${ack.cycle}): duplicate of ${ack.duplicate_of}, which is ${original?.state ?? 'not in the ledger'}`);
        } else if (original.sha256 !== ack.sha256 || original.bytes !== ack.bytes) problems.push(`${ack.id}: its original ${original.id} holds other bytes`);
        continue;
      }
      if (row.state !== 'uploaded') missing.push(`${ack.id} (cycle ${ack.cycle}): state ${row.state}, attempts ${row.attempts}, last_error ${row.last_error ?? '-'}`);
      else if (row.s3_key === null || !objectSize.has(row.s3_key)) missing.push(`${ack.id} (cycle ${ack.cycle}): uploaded but no object at ${row.s3_key}`);
      if (row.sha256 !== ack.sha256 || row.bytes !== ack.bytes || row.device_id !== ack.device_id) {
        problems.push(`${ack.id}: row (${row.device_id}, ${row.bytes}, ${row.sha256}) differs from ack (${ack.device_id}, ${ack.bytes}, ${ack.sha256})`);
      }
      const keyPattern = new RegExp(`^${ack.device_id.replace(/\./g, '\\.')}/\\d{4}/\\d{2}/\\d{2}/${ack.id}\\.jpg$`);
      if (!keyPattern.test(row.s3_key ?? '')) problems.push(`${ack.id}: s3_key ${row.s3_key} is not {device_id}/{YYYY}/{MM}/{DD}/{id}.jpg`);
    }

    // Every uploaded row's object (acknowledged or not: nothing corrupt may reach S3) is read back and hashed.
    const toVerify = uploadedRows.filter((r) => r.s3_key !== null && objectSize.has(r.s3_key));
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < toVerify.length) {
        const row = toVerify[next++] as Row;
        const body = await s3.getBytes(row.s3_key as string);
        const ack = acks.get(row.id);
        const want = ack ?? row;
        if (body.length !== want.bytes || sha256Hex(body) !== want.sha256) {
          problems.push(`${row.id}${ack ? '' : ' (not acked)'}: object ${row.s3_key} has ${body.length} bytes sha256 ${sha256Hex(body)}, expected ${want.bytes} bytes sha256 ${want.sha256}`);
        }
      }
    }));

    for (const o of objects) {
      const owners = byKey.get(o.Key ?? '') ?? [];
      if (owners.length !== 1 || owners[0]?.state !== 'uploaded') {
        problems.push(`object ${o.Key} (${o.Size} bytes) belongs to ${owners.length} rows${owners[0] ? ` (state ${owners[0].state})` : ''}`);
      }
    }
    const deadRows = rows.filter((r) => r.state === 'dead').map((r) => `${r.id}: ${r.last_error ?? '-'}`);
    const leftFiles = await readdir(path.join(spoolDir, 'images'));

    const totals = stats.reduce((t, s) => ({
      posted: t.posted + s.posted, cut: t.cut + s.cut,
      killsDuringIngest: t.killsDuringIngest + (s.ingestsInFlightAtKill > 0 ? 1 : 0),
      killsDuringUploadsOnly: t.killsDuringUploadsOnly + (s.ingestsInFlightAtKill === 0 && (s.uploadingAtKill ?? 0) > 0 ? 1 : 0),
      interruptedUploads: t.interruptedUploads + (s.uploadingAtKill ?? 0),
    }), { posted: 0, cut: 0, killsDuringIngest: 0, killsDuringUploadsOnly: 0, interruptedUploads: 0 });
    const mb = (uploadedRows.reduce((sum, r) => sum + r.bytes, 0) / 1e6).toFixed(1);
    console.log(`crash-resume: cycles=${CYCLES} acked=${acks.size} uploaded=${uploadedRows.length} objects=${objects.length} rows=${rows.length} committed_not_acked=${rows.filter((r) => !acks.has(r.id)).length} ` +
      `states=${JSON.stringify(states)} posted=${totals.posted} cut=${totals.cut} kills_during_ingest=${totals.killsDuringIngest} ` +
      `kills_during_uploads_only=${totals.killsDuringUploadsOnly} interrupted_uploads=${totals.interruptedUploads} uploaded_mb=${mb} ` +
      `crash_phase_ms=${crashPhaseMs} final_drain_ms=${drainMs} total_ms=${Date.now() - started} seed=${SEED}`);
    const idsInKeys = new Map<string, number>();
    for (const o of objects) {
      const id = /([0-9A-HJKMNP-TV-Z]{26})\.[a-z]+$/.exec(o.Key ?? '')?.[1];
      if (id) idsInKeys.set(id, (idsInKeys.get(id) ?? 0) + 1);
    }
    const report = {
      acknowledged: acks.size,
      missing: missing.length,
      corrupt: problems.filter((p) => p.includes('has ') && p.includes('expected')).length,
      duplicate: [...idsInKeys.values()].filter((n) => n > 1).length,
      orphan: objects.filter((o) => (byKey.get(o.Key ?? '') ?? []).length === 0).length + leftFiles.length,
    };
    console.log(`torture checker: acknowledged=${report.acknowledged} missing=${report.missing} corrupt=${report.corrupt} ` +
      `duplicate=${report.duplicate} orphan=${report.orphan} | S3 faults: ${faults.summary()}`);
    if (errorLogs.length > 0) console.warn(`crash-resume: ${errorLogs.length} error log lines:\n${errorLogs.slice(0, 20).join('\n')}`);

    // All findings in one assertion, so a failure shows every kind of damage at once (lists cut to 15).
    const some = (list: string[]): string[] => (list.length > 15 ? [...list.slice(0, 15), `... and ${list.length - 15} more`] : list);
    const findings = {
      finalDrain: drainError === null ? 'ok' : String(drainError),
      exitAfterSigterm: finalExit,
      ackedButNotSafeInS3: some(missing),
      integrityProblems: some(problems),
      deadRows: some(deadRows),
      answersOtherThan202: some(unexpected),
      partFilesLeft: some(leftFiles.filter((f) => f.endsWith('.part'))),
      filesLeftInImagesDir: some(leftFiles),
      objectsMinusUploadedRows: objects.length - uploadedRows.length,
      rowsNotUploaded: rows.filter((r) => r.state !== 'uploaded' && r.state !== 'duplicate').length,
    };
    expect(findings, `crash-resume findings (seed ${SEED}, spool ${spoolDir})`).toEqual({
      finalDrain: 'ok', exitAfterSigterm: 0, ackedButNotSafeInS3: [], integrityProblems: [], deadRows: [], answersOtherThan202: [],
      partFilesLeft: [], filesLeftInImagesDir: [], objectsMinusUploadedRows: 0, rowsNotUploaded: 0,
    });
    // The test is only a proof if it actually crashed things mid-flight.
    expect(acks.size).toBeGreaterThan(CYCLES * 3);
    expect(totals.killsDuringIngest, 'kills that cut ingests').toBeGreaterThan(0);
    expect(totals.interruptedUploads, 'uploads interrupted by kills').toBeGreaterThan(0);
    if (FAULTS > 0) expect(Object.values(faults.counters.faults).reduce((a, b) => a + b, 0), 'S3 faults injected').toBeGreaterThan(0);
    passed = true;
  }, 180_000 + CYCLES * 6000);
});
