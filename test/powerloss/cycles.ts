import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { delay, seededRandom, withTimeout } from '../helpers/crash-harness.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { CLI, startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { PowerLossDisk, type CutMode } from './layer.js';
import { startLoad, type Load } from './load.js';
import { checkSpool, type Receipt, type SpoolCheck } from './spool-check.js';

/**
 * When the power goes during ingest: at a random time, as a receipt is read, or as the service's Nth fsync
 * (of anything, or of the ledger's WAL) is about to complete: the layer's own trigger, with no client
 * latency, so it catches an ack sent before its sync. Or with only uploads running; or right after start.
 */
export type Moment = 'ingest' | 'on-receipt' | 'on-sync' | 'on-wal-sync' | 'uploads' | 'early';
const MOMENTS: readonly Moment[] = ['ingest', 'on-receipt', 'on-sync', 'on-wal-sync', 'uploads', 'early'];

export interface CycleOptions {
  seed: number;
  cycles: number;
  /** Requests in flight at once during ingest. */
  lanes: number;
  /** Largest image posted (most are 20-300 KB). */
  maxBytes: number;
  /** Cut modes to draw from; 'clean' only unless asked. */
  cutModes: readonly CutMode[];
  /** Moments to draw from; all by default. */
  moments?: readonly Moment[];
  /** fsync latency of the layer's disk, drawn per cycle from these (ms); [0] by default. */
  syncDelaysMs?: readonly number[];
  /** Another build's bin/image-spool.cjs (the broken builds); this checkout's by default. */
  cli?: string;
  log: (line: string) => void;
}

export interface CycleReport {
  cycle: number;
  moment: Moment;
  cutMode: CutMode;
  /** SPOOL_DIRECT_IO, and what the service made of it on the layer (its log line). */
  directIo: 'auto' | 'off';
  writes: string;
  cutAfterMs: number;
  /** From sending the cut command to the moment the layer took it (everything fails from then on). */
  cutMs: number;
  syncDelayMs: number;
  posted: number;
  /** Receipts this cycle's load got (`afterCut` of them read after the cut). */
  receipts: number;
  afterCut: number;
  /** Answers other than 202 that came before the cut (after it, 500/503 is right: nothing can be made durable). */
  unexpected: string[];
  check: SpoolCheck;
}

export interface CyclesResult {
  reports: CycleReport[];
  receipts: number;
  /** What the last check (after the last cut) found, over every receipt of the run. */
  final: SpoolCheck;
  layerErrors: string;
}

const ADMIN_TOKEN = 'powerloss-admin-token';

/** Every random choice of a cycle, drawn up front in a fixed order: a seed replays the same choices whatever the timing. */
function drawPlan(rng: () => number, o: CycleOptions) {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)] as T;
  return {
    moment: pick(o.moments ?? MOMENTS),
    cutMode: pick(o.cutModes),
    directIo: rng() < 0.5 ? 'auto' as const : 'off' as const,
    // 150 bodies share two cores: the first receipts come after a few seconds.
    cutAfterMs: 500 + Math.floor(rng() * 7500),
    onReceipt: 1 + Math.floor(rng() * 80),
    onSync: 10 + Math.floor(rng() * 400),
    onWalSync: 1 + Math.floor(rng() * 40),
    jsonShare: rng() < 0.5 ? 0.15 : 0,
    links: rng() < 0.5,
    cutSeed: Math.floor(rng() * 2 ** 31),
    syncDelayMs: pick(o.syncDelaysMs ?? [0]),
  };
}
type Plan = ReturnType<typeof drawPlan>;

/**
 * Power-cut cycles on one spool inside the layer (S3 outside it): mount, start the service (first start
 * creates SPOOL_DIR), check every receipt so far, post from `lanes` devices, cut at a random moment, SIGKILL,
 * unmount; after the last cut one more mount, start and check. Every choice comes from `seed`.
 */
export async function runPowerLossCycles(o: CycleOptions): Promise<CyclesResult> {
  const rng = seededRandom(o.seed);
  const work = await mkdtemp(path.join(os.tmpdir(), 'powerloss-service-'));
  const disk = new PowerLossDisk(path.join(work, 'disk'), path.join(work, 'mnt'));
  const spoolDir = path.join(disk.mountpoint, 'spool');
  let s3: TestS3 | null = null;
  let svc: ServiceProcess | null = null;
  const receipts = new Map<string, Receipt>();
  const verified = new Set<string>();
  const reports: CycleReport[] = [];
  let ok = false;
  try {
    s3 = await startTestS3();
    const env = (directIo: 'auto' | 'off'): Record<string, string> => ({
      ...s3Env(s3 as TestS3), SPOOL_DIR: spoolDir, SPOOL_MIN_FREE_BYTES: '0', SPOOL_DIRECT_IO: directIo,
      UPLOAD_BWLIMIT: '16MB', UPLOAD_CONCURRENCY: '4', RETRY_BASE_MS: '50', RETRY_MAX_MS: '500',
      UPLOAD_STALL_TIMEOUT_MS: '5000', ADMIN_TOKEN,
    });
    let pending: Omit<CycleReport, 'check'> | null = null;
    for (let cycle = 0; cycle <= o.cycles; cycle++) {
      const plan = drawPlan(rng, o);
      const started = Date.now();
      await disk.mount({ syncDelayMs: plan.syncDelayMs });
      svc = await startServiceProcess(env(plan.directIo), 60_000, o.cli ?? CLI);
      if (pending) {
        const report = { ...pending, check: await checkSpool(spoolDir, s3, receipts.values(), verified) };
        reports.push(report);
        o.log(cycleLine(report, receipts.size, o.seed));
      }
      if (cycle === o.cycles) break;
      const running: ServiceProcess = svc;
      svc = null; // loadAndCut kills it
      pending = await loadAndCut({ plan, cycle, disk, svc: running, lanes: o.lanes, maxBytes: o.maxBytes, receipts });
      o.log(`powerloss cycle ${cycle + 1}/${o.cycles}: cut (${plan.cutMode}, ${plan.moment}) after ${pending.cutAfterMs} ms, ` +
        `${pending.receipts} receipts, ${Date.now() - started} ms`);
    }
    ok = true;
    return { reports, receipts: receipts.size, final: (reports.at(-1) as CycleReport).check, layerErrors: disk.errors };
  } finally {
    if (svc && svc.child.exitCode === null && svc.child.signalCode === null) {
      svc.kill('SIGKILL');
      await svc.exited;
    }
    await disk.unmount();
    await s3?.close();
    if (ok) await rm(work, { recursive: true, force: true });
    else o.log(`powerloss: disk kept for inspection: ${disk.disk} (seed ${o.seed})`);
  }
}

interface CutContext {
  plan: Plan;
  cycle: number;
  disk: PowerLossDisk;
  svc: ServiceProcess;
  lanes: number;
  maxBytes: number;
  receipts: Map<string, Receipt>;
}

/** Posts from `lanes` devices, cuts at the plan's moment, SIGKILLs the service and unmounts. */
async function loadAndCut({ plan, cycle, disk, svc, lanes, maxBytes, receipts }: CutContext): Promise<Omit<CycleReport, 'check'>> {
  const writes = svc.logs.join('').includes('spool writes bypass the page cache') ? 'O_DIRECT' : 'page cache';
  try {
    const linkUrl = plan.links ? await createLink(svc.baseUrl) : null;
    const receiptTimes: number[] = [];
    let cutting: Promise<string> | null = null;
    let cutMs = NaN; // unknown for an armed cut
    const cut = (): Promise<string> => {
      const sent = Date.now();
      cutting ??= disk.cut(plan.cutMode, plan.cutSeed).then((reply) => {
        cutMs = Number(/ at=([\d.]+)/.exec(reply)?.[1] ?? NaN) - sent;
        return reply;
      });
      return cutting;
    };
    const load = startLoad({
      baseUrl: svc.baseUrl, lanes, cycle, rng: seededRandom(plan.cutSeed), maxBytes, linkUrl, jsonShare: plan.jsonShare,
      onReceipt: (r) => {
        receipts.set(r.id, r);
        receiptTimes.push(Date.now());
        // The moment a receipt is read: where an ack sent before its data was durable would show.
        if (plan.moment === 'on-receipt' && receiptTimes.length >= plan.onReceipt) void cut();
      },
    });
    const loadStart = Date.now();
    await reachMoment(plan, disk, load, () => cutting !== null);
    await cut(); // a no-op ('already cut') after an armed or on-receipt cut
    const cutAt = Number((await disk.stats())['cut_at_ms']);
    load.stop();
    svc.kill('SIGKILL');
    await withTimeout(svc.exited, 20_000, 'the service to die');
    await withTimeout(load.done, 60_000, 'requests to settle after the cut');
    return {
      cycle, moment: plan.moment, cutMode: plan.cutMode, directIo: plan.directIo, writes, cutAfterMs: Math.round(cutAt - loadStart),
      cutMs: Math.round(cutMs), syncDelayMs: plan.syncDelayMs, posted: load.posted, receipts: receiptTimes.length,
      afterCut: receiptTimes.filter((t) => t > cutAt).length, unexpected: load.refusals.filter((r) => r.at < cutAt).map((r) => r.what),
    };
  } finally {
    if (svc.child.exitCode === null && svc.child.signalCode === null) {
      svc.kill('SIGKILL');
      await svc.exited;
    }
    await disk.unmount();
  }
}

/** Waits until the plan's moment has come (an armed or on-receipt cut may come first, or be the moment). */
async function reachMoment(plan: Plan, disk: PowerLossDisk, load: Load, cutStarted: () => boolean): Promise<void> {
  if (plan.moment === 'on-sync' || plan.moment === 'on-wal-sync') {
    if (plan.moment === 'on-sync') await disk.arm(plan.onSync, plan.cutMode, plan.cutSeed);
    else await disk.arm(plan.onWalSync, plan.cutMode, plan.cutSeed, '/ledger.db-wal');
    const deadline = Date.now() + 15_000; // then cut anyway: a build that syncs less may never get there
    while (Date.now() < deadline && (await disk.stats())['cut'] === null) await delay(20);
  } else if (plan.moment === 'uploads') {
    await delay(plan.cutAfterMs / 2);
    load.stop();
    await withTimeout(load.done, 120_000, 'the load to finish');
    await delay(plan.cutAfterMs / 2);
  } else if (plan.moment === 'early') {
    await delay(plan.cutAfterMs / 10);
  } else {
    const deadline = Date.now() + (plan.moment === 'on-receipt' ? 30_000 : plan.cutAfterMs);
    while (!cutStarted() && Date.now() < deadline) await delay(5);
  }
}

async function createLink(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/admin/links`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ expires_in: '1h', device_id: 'link-kiosk' }),
  });
  if (res.status !== 201) throw new Error(`creating an upload link: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { url: string }).url;
}

export function cycleLine(r: CycleReport, total: number, seed: number): string {
  const c = r.check;
  return `powerloss cycle ${r.cycle + 1}: receipts=${r.receipts} survived=${r.receipts - countOf(c.lost, r.cycle) - countOf(c.corrupt, r.cycle)} ` +
    `lost=${countOf(c.lost, r.cycle)} corrupt=${countOf(c.corrupt, r.cycle)} | all ${total} receipts so far: survived=${c.survived} ` +
    `(uploaded ${c.uploaded}, queued ${c.queued}) lost=${c.lost.length} corrupt=${c.corrupt.length} half_done=${c.halfDone.length} ` +
    `integrity=${c.integrity} | cut=${r.cutMode} at=${r.moment} after_ms=${r.cutAfterMs} cut_latency_ms=${r.cutMs} fsync_delay_ms=${r.syncDelayMs} SPOOL_DIRECT_IO=${r.directIo} (${r.writes}) posted=${r.posted} ` +
    `receipts_after_cut=${r.afterCut} seed=${seed}`;
}

/** Findings that name a receipt of `cycle` (each finding says "(cycle N, ...)"). */
function countOf(findings: string[], cycle: number): number {
  return findings.filter((f) => f.includes(`(cycle ${cycle},`)).length;
}

/** Lost receipts by how they were sent and lost: "multipart: no ledger row", "link: spool_file_missing", ... */
export function lostBy(lost: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of lost) {
    const via = /\(cycle \d+, (\w+)\)/.exec(l)?.[1] ?? '?';
    const why = /no ledger row|spool_file_\w+|no object|file missing/.exec(l)?.[0] ?? l.replace(/^.*?\): /, '');
    out[`${via}: ${why}`] = (out[`${via}: ${why}`] ?? 0) + 1;
  }
  return out;
}
