import type { Context } from 'hono';
import { probeLedgerWrite } from '../ledger/health-probe.js';
import type { Db } from '../ledger/open.js';
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
  /** Why the spool cannot take an image now (degraded, full), or null. */
  spoolProblem: () => Promise<string | null>;
  /** Why uploads are paused, or null. */
  uploaderProblem: () => string | null;
  /** Why the ledger's WAL can no longer be synced (src/ledger/wal-sync.ts), or null. */
  walSyncFailed?: () => string | null;
  /** BUDGET_BACKEND=redis: where upload budget comes from now; absent with the local budget. */
  budgetMode?: () => 'shared' | 'fallback';
}

export interface Check {
  ok: boolean;
  message: string;
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
      ledger: ledgerWritable(deps.db, deps.walSyncFailed?.() ?? null),
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

/** How long the check waits for another process's write lock (ingest's own writes wait busy_timeout, 5 s). */
const LOCK_WAIT_MS = 1000;

/**
 * The ledger commits a write and reads it back (src/ledger/health-probe.ts). Also the systemd watchdog's
 * ledger check. The lock wait is short because it blocks the event loop: in WAL mode writers hold the
 * lock for milliseconds, so a second means something is wrong. A failed WAL sync fails it for good: the
 * watchdog then stops, and systemd restarts the service, which is what a sync failure needs.
 */
export function ledgerWritable(db: Db, walSyncFailed: string | null = null): Check {
  if (walSyncFailed !== null) return { ok: false, message: walSyncFailed };
  try {
    probeLedgerWrite(db, LOCK_WAIT_MS);
    return { ok: true, message: 'writable' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}
