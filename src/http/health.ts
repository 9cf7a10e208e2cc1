import type { Context } from 'hono';
import { setTimeout as sleep } from 'node:timers/promises';
import { isLedgerBusy } from '../ledger/busy.js';
import { probeLedgerWrite } from '../ledger/health-probe.js';
import { lockHolders } from '../ledger/lock-holders.js';
import type { Db } from '../ledger/open.js';
import type { ReadinessCheck } from '../api/schemas/health.js';
import type { AppEnv } from './env.js';

/** GET /healthz: 200 while the process is up and its ledger answers a query. */
export function healthHandler(db: Db) {
  return function health(c: Context<AppEnv>): Response {
    try {
      db.prepare('SELECT 1').get();
      return c.json({ status: 'ok' });
    } catch (err) {
      return c.json({ status: 'error', error: { code: 'ledger_unavailable', message: (err as Error).message } }, 503);
    }
  };
}

export interface ReadinessDeps {
  db: Db;
  /** The ledger's file, to name another process holding its lock (src/ledger/lock-holders.ts). */
  ledgerFile?: string;
  /** Why the spool cannot take an image now (degraded, full), or null. */
  spoolProblem: () => Promise<string | null>;
  /** Why uploads are paused, or null. */
  uploaderProblem: () => string | null;
  /** Why the ledger's WAL can no longer be synced (src/ledger/wal-sync.ts), or null. */
  walSyncFailed?: () => string | null;
  /** BUDGET_BACKEND=redis: where upload budget comes from now; absent with the local budget. */
  budgetMode?: () => 'shared' | 'fallback';
}

/** One check of /readyz: the ReadinessCheck schema (src/api/schemas/health.ts). */
export type Check = ReadinessCheck;

export interface LedgerCheck extends Check {
  /** Not ok only because another connection holds the write lock: the service is fine, ingest answers 503 ledger_busy. */
  locked: boolean;
}

type CheckName = 'ledger' | 'spool' | 'uploader' | 'budget';

/**
 * GET /readyz: ready means an image sent now would be accepted and eventually uploaded: the ledger commits
 * a write, the spool takes files and has room, the uploader is not paused. 503 names the check that failed.
 */
export function readinessHandler(deps: ReadinessDeps) {
  return async function ready(c: Context<AppEnv>): Promise<Response> {
    const spool = await deps.spoolProblem().catch((err: unknown) => `spool check failed: ${(err as Error).message}`);
    const uploader = deps.uploaderProblem();
    const checks: Partial<Record<CheckName, Check>> & Record<'ledger' | 'spool' | 'uploader', Check> = {
      ledger: await ledgerReady(deps).then(({ ok, message }) => ({ ok, message })),
      spool: spool === null ? { ok: true, message: 'room for images' } : { ok: false, message: spool },
      uploader: uploader === null ? { ok: true, message: 'uploading' } : { ok: false, message: `paused: ${uploader}` },
    };
    // Informational: without Redis the gateway still takes and uploads images safely (at cap / GATEWAY_COUNT),
    // so a load balancer must keep sending it devices. Readiness is for what stops ingest.
    if (deps.budgetMode) {
      checks.budget = { ok: true, message: deps.budgetMode() === 'shared' ? 'shared (redis)' : 'local fallback (redis unreachable)' };
    }
    const failed = (Object.keys(checks) as CheckName[]).filter((name) => checks[name]?.ok === false);
    return c.json({ status: failed.length === 0 ? 'ready' : 'not_ready', failed, checks }, failed.length === 0 ? 200 : 503);
  };
}

/** Tries before /readyz calls the ledger locked: the service's own TRUNCATE checkpoint holds the lock for a few ms. */
const LOCKED_TRIES = 4;
const LOCKED_PAUSE_MS = 25;

/** The ledger check of /readyz: a lock held past a few short pauses (on timers) is reported with its holder. */
async function ledgerReady(deps: ReadinessDeps): Promise<LedgerCheck> {
  let check = ledgerWritable(deps.db, deps.walSyncFailed?.() ?? null);
  for (let i = 1; i < LOCKED_TRIES && check.locked; i++) {
    await sleep(LOCKED_PAUSE_MS);
    check = ledgerWritable(deps.db, deps.walSyncFailed?.() ?? null);
  }
  if (!check.locked || deps.ledgerFile === undefined) return check;
  const holders = await lockHolders(deps.ledgerFile).catch(() => null);
  if (!holders || holders.writers.length === 0) return check;
  return { ...check, message: `locked by another process: ${holders.writers.join(', ')} holds a write transaction on ${deps.ledgerFile}; images are refused with 503 ledger_busy until it commits or rolls back` };
}

/**
 * The ledger commits a write and reads it back (src/ledger/health-probe.ts). Also the systemd watchdog's
 * ledger check. It never waits for a lock: SQLite's wait would stop the event loop (an operator's
 * `BEGIN IMMEDIATE` made /healthz take 9.9 s; issue 18). A lock another connection holds is reported as
 * `locked`, which is not a reason to restart the service. A failed WAL sync fails it for good: the
 * watchdog then stops, and systemd restarts the service, which is what a sync failure needs.
 */
export function ledgerWritable(db: Db, walSyncFailed: string | null = null): LedgerCheck {
  if (walSyncFailed !== null) return { ok: false, locked: false, message: walSyncFailed };
  try {
    probeLedgerWrite(db, 0);
    return { ok: true, locked: false, message: 'writable' };
  } catch (err) {
    if (isLedgerBusy(err)) {
      return { ok: false, locked: true, message: 'locked by another connection (a write transaction, such as sqlite3\'s BEGIN IMMEDIATE); images are refused with 503 ledger_busy until it ends' };
    }
    return { ok: false, locked: false, message: (err as Error).message };
  }
}
