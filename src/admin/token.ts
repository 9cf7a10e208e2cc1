import { timingSafeEqual, createHash } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../log.js';
import { loadOrCreateSecret } from './secret-file.js';

export const ADMIN_TOKEN_FILE = 'admin.token';

/**
 * The admin bearer token: ADMIN_TOKEN when set, else one generated on first start into
 * `$SPOOL_DIR/admin.token` (mode 0600). Only the file's path is ever logged, never the token.
 */
export async function loadAdminToken(configured: string | undefined, spoolDir: string, log: Logger): Promise<string> {
  if (configured) return configured;
  const file = path.join(spoolDir, ADMIN_TOKEN_FILE);
  const { secret, created } = await loadOrCreateSecret(file);
  if (created) log.warn({ token_file: file }, 'no ADMIN_TOKEN set: generated an admin token (read it from the file)');
  return secret;
}

/** Constant-time comparison; hashing first makes the lengths equal, so length leaks nothing either. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
