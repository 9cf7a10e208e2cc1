import { randomUUID } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, errorMessage } from '../errors.js';
import { PART_SUFFIX, type SpoolStore } from './store.js';

/**
 * Why the spool cannot store an image right now, whatever the free space: degraded by an I/O error, or
 * its images directory refuses a new file (gone, read-only after an ext4 error remount, not ours).
 * /readyz and the systemd watchdog both ask; a restart cures most of these (recovery re-creates the
 * directory, a degraded spool starts clean), which is why the watchdog stops pinging on them.
 * A full disk is not a problem here: an empty file needs no data block, and a restart would not help.
 */
export async function spoolFault(store: SpoolStore): Promise<string | null> {
  if (store.degraded) return `spool degraded (${store.degraded}); restart required`;
  // A `.part` name: if a crash leaves it behind, startup recovery deletes it like any unfinished file.
  const probe = path.join(store.imagesDir, `.probe-${randomUUID()}${PART_SUFFIX}`);
  try {
    await (await open(probe, 'wx', 0o600)).close();
    await unlink(probe);
    return null;
  } catch (err) {
    return `cannot create files in ${store.imagesDir}: ${errnoCode(err) ?? errorMessage(err)}`;
  }
}
