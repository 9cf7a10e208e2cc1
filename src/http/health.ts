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
