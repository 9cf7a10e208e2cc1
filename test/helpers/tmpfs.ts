import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface Tmpfs {
  dir: string;
  unmount(): void;
}

/** Mounts a small tmpfs as a real full-disk stage; returns the reason instead when not permitted (needs root). */
export function mountTmpfs(sizeMb: number): Tmpfs | string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spool-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount tmpfs (${(err as Error).message.split('\n')[0]}); needs root`;
  }
  return {
    dir,
    unmount() {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Free bytes on the filesystem holding `dir`, as the service's admission reads them (statfs f_bavail). */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * Samples the free space of `dir` as often as the event loop allows until stopped; `min` is the lowest seen.
 * Each statfs is a thread-pool call, so the sampler never blocks the service it watches.
 */
export function watchFreeSpace(dir: string): { readonly min: number; stop(): Promise<void> } {
  let min = Infinity;
  let running = true;
  const loop = (async () => {
    while (running) {
      min = Math.min(min, await freeBytes(dir));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  return {
    get min() { return min; },
    async stop() { running = false; await loop; },
  };
}
