import { open } from 'node:fs/promises';

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
