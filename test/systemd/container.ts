/**
 * A Debian container booted with systemd-nspawn, systemd 252 as its PID 1, on an overlay of the cached tree
 * (test/systemd/tree.ts) so every run starts from the same pristine system and leaves the cache alone.
 *
 * The host has no systemd and no D-Bus, so `machinectl` and `systemctl -M` cannot reach the container:
 * commands run inside it through `nsenter -t <its PID 1> -a`. It shares the host's network (no
 * --private-network), so a service inside reaches a server the test runs on the host's 127.0.0.1 and the
 * test reaches the service the same way. Everything here is asynchronous: the test process also runs the
 * S3 server, which must keep answering while systemctl waits on the service.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onlyChildOf } from '../../bench/harness.js';
import { pollUntil } from '../helpers/crash-harness.js';
import { HOST_PATH } from './tree.js';

export interface Bind {
  source: string;
  target: string;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Container {
  name: string;
  /** The container's root as the host sees it (the overlay), to read and write its files. */
  root: string;
  /** PID of its systemd, in the host's PID namespace. */
  pid1: number;
  /** Runs a program inside (all of the container's namespaces). Never rejects: read `status`. */
  run(argv: readonly string[], options?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** Like run, but rejects with its output when it does not exit 0. */
  must(argv: readonly string[], options?: { timeoutMs?: number }): Promise<string>;
  /** What systemd-nspawn printed (the container's console). */
  console(): string;
  /** An orderly poweroff (SIGTERM to nspawn, which tells systemd), SIGKILL after a deadline; unmounts, removes. */
  destroy(): Promise<void>;
}

const BOOT_TIMEOUT_MS = 60_000;
const POWEROFF_TIMEOUT_MS = 30_000;

export async function bootContainer(tree: string, binds: readonly Bind[]): Promise<Container> {
  const name = `spool-${process.pid}-${Date.now().toString(36)}`;
  const work = mkdtempSync(path.join(os.tmpdir(), 'image-spool-nspawn-'));
  const root = path.join(work, 'root');
  for (const dir of ['upper', 'work', 'root']) mkdirSync(path.join(work, dir));
  await hostRun('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${work}/upper,workdir=${work}/work`, root]);
  const consoleFile = path.join(work, 'console.log');
  const fd = openSync(consoleFile, 'a');
  let nspawn: ChildProcess;
  try {
    nspawn = spawn('systemd-nspawn', [
      '-D', root, '--boot', '--register=no', '--keep-unit', '-M', name, '--console=read-only',
      ...binds.map((b) => `--bind-ro=${b.source}:${b.target}`),
    ], { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, PATH: HOST_PATH } });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<void>((resolve) => nspawn.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => { gone = true; });
  const readConsole = (): string => { try { return readFileSync(consoleFile, 'utf8'); } catch { return ''; } };

  const destroy = async (): Promise<void> => {
    if (!gone && nspawn.pid !== undefined) {
      process.kill(nspawn.pid, 'SIGTERM');
      const timer = setTimeout(() => { if (!gone && nspawn.pid !== undefined) process.kill(nspawn.pid, 'SIGKILL'); }, POWEROFF_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await hostRun('umount', [root]).catch(() => hostRun('umount', ['-l', root]));
    rmSync(work, { recursive: true, force: true });
    // nspawn leaves this (empty) directory behind when /run is not a tmpfs, as on these machines.
    rmSync(`/run/systemd/nspawn/propagate/${name}`, { recursive: true, force: true });
  };

  try {
    const pid1 = await pollUntil(() => {
      if (gone) throw new Error(`systemd-nspawn exited while booting:\n${readConsole().slice(-3000)}`);
      try {
        const pid = onlyChildOf(nspawn.pid as number);
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' ? pid : undefined;
      } catch {
        return undefined;
      }
    }, { timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 50, what: 'the container\'s systemd', describe: () => readConsole().slice(-500) });
    const run = (argv: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> =>
      hostRunResult('nsenter', ['-t', String(pid1), '-a', '--', ...argv], options);
    const container: Container = {
      name, root, pid1, run,
      async must(argv, options) {
        const r = await run(argv, options);
        if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${(r.stdout + r.stderr).trim()}`);
        return r.stdout;
      },
      console: readConsole,
      destroy,
    };
    // "running", or "degraded" when a unit unrelated to the test failed (printed, not fatal). Until systemd
    // has opened its private socket, systemctl cannot connect at all and prints nothing: ask again.
    let answer: RunResult = { status: null, stdout: '', stderr: '' };
    const state = await pollUntil(async () => {
      answer = await run(['systemctl', 'is-system-running', '--wait'], { timeoutMs: BOOT_TIMEOUT_MS });
      const said = answer.stdout.trim();
      return said === '' || said === 'offline' ? undefined : said;
    }, { timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 100, what: 'systemd in the container to finish booting', describe: () => answer.stderr.trim() });
    if (state !== 'running') {
      const failed = (await run(['systemctl', '--failed', '--no-legend', '--no-pager'])).stdout.trim();
      if (state !== 'degraded') throw new Error(`container did not boot: is-system-running says "${state}"; failed units: ${failed}`);
      console.log(`nspawn container ${name} is degraded (failed units: ${failed})`);
    }
    return container;
  } catch (err) {
    await destroy();
    throw err;
  }
}

function hostRunResult(program: string, args: readonly string[], options: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(program, args, { env: { ...process.env, PATH: HOST_PATH }, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const status = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ status, stdout, stderr: status === null && err ? `${stderr}${err.message}` : stderr });
      });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

async function hostRun(program: string, args: readonly string[]): Promise<void> {
  const r = await hostRunResult(program, args);
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} exited ${r.status}: ${(r.stdout + r.stderr).trim()}`);
}
