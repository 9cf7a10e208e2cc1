import { setTimeout as sleep } from 'node:timers/promises';
import { SpoolError, errnoCode } from '../errors.js';
import type { Db } from './open.js';

/** Seconds a device is told to wait before it sends again (Retry-After of `ledger_busy`). */
export const LEDGER_BUSY_RETRY_AFTER_S = 2;

/**
 * Another connection holds the ledger's write lock (an operator's `sqlite3` in `BEGIN IMMEDIATE`, a backup
 * tool): nothing was written. Not a failure of the request: the same request succeeds once the lock ends.
 */
export class LedgerBusy extends SpoolError {
  constructor(what: string, cause?: unknown) {
    super('ledger_busy', `${what}: the ledger is locked by another process (a write transaction, such as sqlite3's BEGIN IMMEDIATE); nothing was stored, send it again`,
      { cause, headers: { 'Retry-After': String(LEDGER_BUSY_RETRY_AFTER_S) } });
  }
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, _RECOVERY, _TIMEOUT), or a LedgerBusy. */
export function isLedgerBusy(err: unknown): boolean {
  if (err instanceof SpoolError) return err.code === 'ledger_busy';
  const code = errnoCode(err);
  return code === 'SQLITE_BUSY' || (code?.startsWith('SQLITE_BUSY_') ?? false);
}

/**
 * From now on a statement that finds the ledger locked fails at once with SQLITE_BUSY instead of waiting.
 * better-sqlite3's busy handler sleeps on the calling thread: with the 5 s timeout the service starts with,
 * one operator's `BEGIN IMMEDIATE` stopped the event loop for up to 5 s per statement (no acks, /healthz
 * 9.9 s; issue 18). Callers wait for the lock on timers instead (GroupCommitter, retryWhileBusy). Called
 * once startup recovery is done: until the port listens, nothing else waits on the event loop.
 */
export function stopWaitingForLocks(db: Db): void {
  db.pragma('busy_timeout = 0');
}

export interface RetryWhileBusyOptions {
  /** Give up (rethrow the SQLITE_BUSY) after this long. @default 30000 */
  maxWaitMs?: number;
  /** First pause; doubles up to `maxPauseMs`. @default 10 */
  firstPauseMs?: number;
  /** @default 500 */
  maxPauseMs?: number;
  /** Stops waiting (rethrows the last SQLITE_BUSY) when aborted. */
  signal?: AbortSignal;
}

/**
 * Runs a synchronous ledger write, and while it finds the ledger locked by another connection, runs it again
 * after a pause on a timer: the event loop stays free. Any other error, or the lock outlasting `maxWaitMs`,
 * is thrown to the caller. For background writes that must not be lost to a short lock (an upload's
 * outcome, a webhook's delivery, extracted metadata).
 */
export async function retryWhileBusy<T>(write: () => T, options: RetryWhileBusyOptions = {}): Promise<T> {
  const giveUpAt = Date.now() + (options.maxWaitMs ?? 30_000);
  let pause = options.firstPauseMs ?? 10;
  for (;;) {
    try {
      return write();
    } catch (err) {
      if (!isLedgerBusy(err) || Date.now() >= giveUpAt || options.signal?.aborted === true) throw err;
    }
    await sleep(Math.min(pause, Math.max(1, giveUpAt - Date.now())));
    pause = Math.min(pause * 2, options.maxPauseMs ?? 500);
  }
}
