import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

/**
 * fsyncs a directory so renames into it survive power loss. Concurrent callers share fsyncs: a caller
 * that arrives while one is running waits for the next one (which starts after its rename, so it covers
 * it), and everyone waiting for that next one shares it. 150 concurrent ingests cost a handful of fsyncs.
 */
export class DirSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.fsyncOnce().finally(() => { this.running = null; });
      return this.running;
    }
    if (!this.next) {
      this.next = this.running.catch(() => undefined).then(() => {
        this.next = null;
        return this.sync();
      });
    }
    return this.next;
  }

  private async fsyncOnce(): Promise<void> {
    await fsyncPath(this.dir);
  }
}

export async function fsyncPath(p: string): Promise<void> {
  const handle = await open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * `mkdir -p` that survives power loss. A new directory's name is durable only once its parent is fsynced,
 * and nothing else ever fsyncs above SPOOL_DIR: a cut after a fresh install's first receipts lost every one
 * of them (issue 21). So each directory created here has its parent fsynced, up to the existing ancestor.
 * SPOOL_DIR's parent is fsynced even when nothing was created (a previous start, or systemd's
 * StateDirectory, may have created it without an fsync); then, being someone else's directory, a refusal
 * to open it is not an error.
 */
export async function mkdirDurable(dir: string, mode: number): Promise<void> {
  const target = path.resolve(dir);
  const first = await mkdir(target, { recursive: true, mode });
  const top = path.dirname(first === undefined ? target : path.resolve(first));
  for (let parent = path.dirname(target); ; parent = path.dirname(parent)) {
    try {
      await fsyncPath(parent);
    } catch (err) {
      if (first !== undefined || !['EACCES', 'EPERM', 'EROFS'].includes(errnoCode(err) ?? '')) throw err;
    }
    if (parent === top || parent === path.dirname(parent)) return;
  }
}
