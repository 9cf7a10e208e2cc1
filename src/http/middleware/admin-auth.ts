import type { MiddlewareHandler } from 'hono';
import { tokenMatches } from '../../admin/token.js';
import { SpoolError } from '../../errors.js';
import type { AppEnv } from '../env.js';

/** Requires `Authorization: Bearer <admin token>` on every route it guards. */
export function adminAuth(token: string): MiddlewareHandler<AppEnv> {
  return async function requireAdminToken(c, next) {
    const header = c.req.header('authorization') ?? '';
    const presented = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? '';
    if (!presented || !tokenMatches(presented, token)) {
      throw new SpoolError('unauthorized', 'admin endpoints need Authorization: Bearer <token> (ADMIN_TOKEN or $SPOOL_DIR/admin.token)',
        { headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    await next();
  };
}
