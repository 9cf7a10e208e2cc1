/**
 * Podman as the container bench and the container tests (test/container/) drive it: Debian's podman (4.3) as
 * root, every call with deploy/containers.conf (runc and ulimits this host kind needs), and deploy/Dockerfile
 * built as CI ships it. Here, not in test/, because `npm run bench` runs compiled from dist/, which holds only
 * src/ and bench/.
 *
 * The build: on the Node 24 base images .ci/container-base.sh makes (no registry is reachable here), in
 * docker format (the OCI format drops HEALTHCHECK), with the Dockerfile's own ignore file. `npm ci` inside
 * the build reaches the npm registry through this host's TLS proxy, so the host's CA bundle is handed to npm
 * for this build only: a read-only build volume over /usr/local/etc, where npm reads its global npmrc. A
 * volume is not part of any layer, so none of it stays in the image.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './harness.js';

export const CONTAINERS_CONF = path.join(ROOT, 'deploy/containers.conf');
const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';

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

/** Why podman cannot build and run the image here, or null. */
export async function engineMissing(programs: readonly string[] = ['podman', 'debootstrap']): Promise<string | null> {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root: rootful podman (.ci/run runs as root)';
  for (const program of programs) {
    const found = await run('sh', ['-c', `command -v ${program}`]);
    if (found.code !== 0) return `${program} is not installed (.ci/run installs it with apt-get as root)`;
  }
  return null;
}

/** Runs .ci/container-base.sh (a no-op when podman already has the base images); returns its seconds. */
export async function ensureBaseImages(): Promise<number> {
  const started = Date.now();
  const out = await ok(run('bash', [path.join(ROOT, '.ci/container-base.sh')], { timeoutMs: 600_000 }), '.ci/container-base.sh');
  if (out) console.log(out);
  return (Date.now() - started) / 1000;
}

/** A folder to mount over /usr/local/etc during the build: npm's global npmrc and the host's CA bundle. */
async function npmBuildConfig(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'image-spool-npmrc-'));
  await copyFile(HOST_CA, path.join(dir, 'ca.crt'));
  // nodedir: node-gyp builds better-sqlite3 against the headers in the image instead of downloading them
  // from nodejs.org (not reachable here); GitHub (prebuilt binaries) is not reachable either.
  await writeFile(path.join(dir, 'npmrc'), 'cafile=/usr/local/etc/ca.crt\nnodedir=/usr/local\nupdate-notifier=false\nfund=false\naudit=false\n');
  return dir;
}

/** `podman build` of deploy/Dockerfile from the repository root, tagged `tag`; returns its seconds. */
export async function buildImage(tag: string): Promise<number> {
  const started = Date.now();
  const npmrc = await npmBuildConfig();
  try {
    await ok(run('podman', [
      'build', '--pull=never', '--format=docker', '--ignorefile', 'deploy/Dockerfile.dockerignore',
      '--volume', `${npmrc}:/usr/local/etc:ro`, '--file', 'deploy/Dockerfile', '--tag', tag, '.',
    ], { timeoutMs: 900_000 }), `podman build of deploy/Dockerfile`);
  } finally {
    await rm(npmrc, { recursive: true, force: true });
  }
  return (Date.now() - started) / 1000;
}

/** Removes the tag (the build cache of the build stage stays for the next run). */
export async function removeImage(tag: string): Promise<void> {
  await podman(['image', 'rm', '--force', tag]);
}

/** The image's uncompressed size in bytes, as `podman images` reports it. */
export async function imageBytes(tag: string): Promise<number> {
  return Number(await ok(podman(['image', 'inspect', '--format', '{{.Size}}', tag]), 'podman image inspect'));
}
