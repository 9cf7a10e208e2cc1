import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import type { Logger } from '../log.js';
import { fsyncPath } from '../spool/dir-sync.js';

export const ADMIN_TOKEN_FILE = 'admin.token';
const MIN_TOKEN_LENGTH = 32;

/**
 * The admin bearer token: ADMIN_TOKEN when set, else one generated on first start into
 * `$SPOOL_DIR/admin.token` (mode 0600). Only the file's path is ever logged, never the token.
 */
export async function loadAdminToken(configured: string | undefined, spoolDir: string, log: Logger): Promise<string> {
  if (configured) return configured;
  const file = path.join(spoolDir, ADMIN_TOKEN_FILE);
  const existing = await readToken(file);
  // An empty or short file is what a crash during the first write leaves: replace it, never adopt it.
  if (existing !== null && existing.length >= MIN_TOKEN_LENGTH) return existing;
  const token = randomBytes(32).toString('base64url');
  await writeDurably(file, `${token}\n`);
  log.warn({ token_file: file }, 'no ADMIN_TOKEN set: generated an admin token (read it from the file)');
  return token;
}

async function readToken(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** temp file -> fsync -> rename -> fsync dir: the file holds the whole token or does not exist. */
async function writeDurably(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncPath(path.dirname(file));
}

/** Constant-time comparison; hashing first makes the lengths equal, so length leaks nothing either. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
