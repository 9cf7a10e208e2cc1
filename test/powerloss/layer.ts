import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Drives test/powerloss/powerloss_fs.py: a FUSE passthrough that keeps unsynced state volatile, so a "power
 * cut" leaves DISK/durable holding only what was fsynced (the rules are in the Python file's docstring).
 */

export const LAYER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'powerloss_fs.py');
/** Debian's python3-fusepy installs for the system Python, which may not be the first python3 on PATH. */
export const PYTHON = '/usr/bin/python3';

export type CutMode = 'clean' | 'torn' | 'reorder';

/** Why the layer cannot run here, or null. Tests skip with this reason printed. */
export function powerLossUnavailable(): string | null {
  if (process.platform !== 'linux') return `FUSE power-loss layer needs Linux, not ${process.platform}`;
  if (process.getuid?.() !== 0) return 'mounting the FUSE layer needs root here';
  if (!existsSync('/dev/fuse')) return '/dev/fuse is missing (a container without the FUSE device?)';
  if (spawnSync(PYTHON, ['-c', 'import fusepy']).status !== 0) return `${PYTHON} cannot import fusepy (Debian: apt-get install python3-fusepy fuse)`;
  if (spawnSync('fusermount', ['-V']).error) return 'fusermount is missing (Debian package fuse)';
  return null;
}

function isMounted(mountpoint: string): boolean {
  return readFileSync('/proc/mounts', 'utf8').split('\n').some((line) => line.split(' ')[1] === mountpoint);
}

/** One disk (DISK/durable survives cuts) and its mount point; mounted, cut and remounted any number of times. */
export class PowerLossDisk {
  readonly durableDir: string;
  private child: ChildProcessWithoutNullStreams | null = null;
  private lines: string[] = [];
  private waiters: Array<(line: string) => void> = [];
  private stderr = '';

  constructor(readonly disk: string, readonly mountpoint: string) {
    this.durableDir = path.join(disk, 'durable');
  }

  /** Python tracebacks and other complaints of every mount so far (empty when all went well). */
  get errors(): string {
    return this.stderr;
  }

  /**
   * Mounts a fresh live copy of what the disk holds; resolves once the mount answers. `syncDelayMs`: every
   * fsync waits that long before it makes anything durable (a slow disk; a cut meanwhile fails it).
   */
  async mount(options: { syncDelayMs?: number; timeoutMs?: number } = {}): Promise<void> {
    if (this.child) throw new Error(`${this.mountpoint} is already mounted`);
    await mkdir(this.disk, { recursive: true });
    await mkdir(this.mountpoint, { recursive: true });
    const child = spawn(PYTHON, [LAYER, this.disk, this.mountpoint, String(options.syncDelayMs ?? 0)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.lines = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 1);
        const waiter = this.waiters.shift();
        if (waiter) waiter(line);
        else this.lines.push(line);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => { this.stderr += chunk.toString(); });
    child.once('exit', (code, signal) => {
      for (const waiter of this.waiters.splice(0)) waiter(`error layer exited (${code ?? signal})`);
    });
    const ready = await this.nextLine(options.timeoutMs ?? 60_000, 'the layer to mount');
    if (ready !== 'ready') throw new Error(`layer said ${JSON.stringify(ready)} instead of ready: ${this.stderr}`);
  }

  /** Power cut: from now on every operation on the mount fails with EIO; unsynced state is gone at the next mount. */
  async cut(mode: CutMode = 'clean', seed = 0): Promise<string> {
    const reply = await this.command(`cut ${mode} ${seed}`);
    if (!reply.startsWith('ok cut') && reply !== 'already cut') throw new Error(`cut failed: ${reply}`);
    return reply;
  }

  /**
   * Cuts (as cut() does) when the `syncs`-th fsync from now (of a path ending in `suffix`, if given) is about
   * to make anything durable; that fsync fails.
   */
  async arm(syncs: number, mode: CutMode = 'clean', seed = 0, suffix = ''): Promise<void> {
    const reply = await this.command(`arm ${syncs} ${mode} ${seed} ${suffix}`.trimEnd());
    if (reply !== 'armed') throw new Error(`arm failed: ${reply}`);
  }

  async stats(): Promise<Record<string, number | string | null>> {
    return JSON.parse(await this.command('stats')) as Record<string, number | string | null>;
  }

  /** Unmounts (lazily, so a process still holding a file cannot keep it); after a cut or without one. */
  async unmount(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.stdin.end(); // the layer unmounts itself at EOF
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    if (isMounted(this.mountpoint)) spawnSync('fusermount', ['-u', '-z', this.mountpoint]);
  }

  private async command(line: string): Promise<string> {
    if (!this.child) throw new Error(`${this.mountpoint} is not mounted`);
    this.child.stdin.write(`${line}\n`);
    return this.nextLine(30_000, line);
  }

  private nextLine(timeoutMs: number, what: string): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (l: string): void => { clearTimeout(timer); resolve(l); };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no answer from the layer in ${timeoutMs} ms for ${what}: ${this.stderr}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}
