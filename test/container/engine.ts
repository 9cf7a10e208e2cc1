/**
 * The container engine the tests drive: Debian's podman (4.3) as root, every call with deploy/containers.conf
 * (runc and ulimits this host kind needs). Also decides whether the container tests can run here: they skip
 * with a printed reason where no engine is installed, except in CI (CI=true), where that is a failure.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CONTAINERS_CONF = path.join(ROOT, 'deploy/containers.conf');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (never throws on a non-zero exit; the caller decides). */
export function run(program: string, args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(program, args, {
      env: { ...process.env, CONTAINERS_CONF, ...options.env },
      cwd: options.cwd ?? ROOT,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 2 ** 20,
      killSignal: 'SIGKILL',
    }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (code === -1 && err ? `\n${err.message}` : '') });
    });
  });
}

/** `podman ARGS`; `ok` throws with stderr when it fails. */
export const podman = (args: readonly string[], timeoutMs?: number): Promise<Run> => run('podman', args, { timeoutMs });

export async function ok(result: Promise<Run> | Run, what: string): Promise<string> {
  const r = await result;
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r.stdout.trim();
}

/** Unique names for one test run: parallel runs (other checkouts on the same machine) share podman's storage. */
export function runId(): string {
  return `image-spool-test-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Why the container tests cannot run here, or null. */
export async function engineMissing(programs: readonly string[] = ['podman', 'debootstrap']): Promise<string | null> {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root: the tests run rootful podman (.ci/run runs as root)';
  for (const program of programs) {
    const found = await run('sh', ['-c', `command -v ${program}`]);
    if (found.code !== 0) return `${program} is not installed (.ci/run installs it with apt-get as root)`;
  }
  return null;
}

/**
 * A describe block that runs only with a container engine. Without one it is skipped with the reason
 * printed, except in CI, where it becomes one failing test naming what is missing.
 */
export function describeWithEngine(name: string, missing: string | null, body: () => void): void {
  if (missing === null) {
    describe(name, body);
  } else if (process.env['CI'] === 'true') {
    describe(name, () => {
      it('has a container engine (CI=true: the container tests must not skip)', () => {
        throw new Error(`cannot run the container tests: ${missing}`);
      });
    });
  } else {
    console.warn(`SKIPPED ${name}: ${missing}`);
    describe.skip(name, body);
  }
}
