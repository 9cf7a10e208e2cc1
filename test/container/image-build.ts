/**
 * Builds deploy/Dockerfile as CI ships it: on the Node 24 base images .ci/container-base.sh makes (no registry
 * is reachable here), in docker format (the OCI format drops HEALTHCHECK), with the Dockerfile's own
 * ignore file. `npm ci` inside the build reaches the npm registry through this host's TLS proxy, so the host's
 * CA bundle is handed to npm for this build only: a read-only build volume over /usr/local/etc, where npm
 * reads its global npmrc. A volume is not part of any layer, so none of it stays in the image.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ok, podman, ROOT, run } from './engine.js';

const HOST_CA = '/etc/ssl/certs/ca-certificates.crt';

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
