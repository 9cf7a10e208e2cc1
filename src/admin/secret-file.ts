import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import { fsyncPath } from '../spool/dir-sync.js';

const MIN_SECRET_LENGTH = 32;

/**
 * A secret kept in a spool file (mode 0600): the one there, or 32 random bytes (base64url) written on first
 * use. `created` says which, so the caller can log the file's path (never the secret).
 */
export async function loadOrCreateSecret(file: string): Promise<{ secret: string; created: boolean }> {
  const existing = await readSecret(file);
  // An empty or short file is what a crash during the first write leaves: replace it, never adopt it.
  if (existing !== null && existing.length >= MIN_SECRET_LENGTH) return { secret: existing, created: false };
  const secret = randomBytes(32).toString('base64url');
  await writeDurably(file, `${secret}\n`);
  return { secret, created: true };
}

async function readSecret(file: string): Promise<string | null> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

/** temp file -> fsync -> rename -> fsync dir: the file holds the whole secret or does not exist. */
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
