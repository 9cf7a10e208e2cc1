import type { Context } from 'hono';
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
  /** BUDGET_BACKEND=redis: where upload budget comes from now; absent with the local budget. */
  budgetMode?: () => 'shared' | 'fallback';
}

interface Check {
  ok: boolean;
  message: string;
}

/**
 * GET /readyz: ready means an image sent now would be accepted and eventually uploaded: the ledger takes
 * a write lock, the spool has room, the uploader is not paused. 503 names the check that failed.
 */
export function readinessHandler(deps: ReadinessDeps) {
  return async function ready(c: Context<AppEnv>): Promise<Response> {
    const spool = await deps.spoolProblem().catch((err: unknown) => `spool check failed: ${(err as Error).message}`);
    const uploader = deps.uploaderProblem();
    const checks: Partial<Record<'ledger' | 'spool' | 'uploader' | 'budget', Check>> = {
      ledger: ledgerWritable(deps.db),
      spool: spool === null ? { ok: true, message: 'room for images' } : { ok: false, message: spool },
      uploader: uploader === null ? { ok: true, message: 'uploading' } : { ok: false, message: `paused: ${uploader}` },
    };
    // Informational: without Redis the gateway still takes and uploads images safely (at cap / GATEWAY_COUNT),
    // so a load balancer must keep sending it devices. Readiness is for what stops ingest.
    if (deps.budgetMode) {
      checks.budget = { ok: true, message: deps.budgetMode() === 'shared' ? 'shared (redis)' : 'local fallback (redis unreachable)' };
    }
    const ok = Object.values(checks).every((check) => check.ok);
    return c.json({ status: ok ? 'ready' : 'not_ready', checks }, ok ? 200 : 503);
  };
}

/** BEGIN IMMEDIATE takes the write lock (a locked, read-only or broken ledger fails here) and writes nothing. */
function ledgerWritable(db: Db): Check {
  try {
    db.exec('BEGIN IMMEDIATE');
    db.exec('ROLLBACK');
    return { ok: true, message: 'writable' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}
