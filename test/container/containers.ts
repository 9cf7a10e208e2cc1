/**
 * Containers for one test run: the service from the built image, with its spool on a named volume, and an
 * S3 target (s3rver, from the same image) beside it on a network of the run's own. Everything published
 * is published on 127.0.0.1 only.
 */
import { ok, podman } from './engine.js';

export const BUCKET = 'images';
const SPOOL = '/var/lib/image-spool';

/** The service on `port` (127.0.0.1), spool on `volume`; env on top of the image's own. */
export async function runService(o: { image: string; name: string; network: string; volume: string; port: number; env: Record<string, string> }): Promise<void> {
  const env = Object.entries(o.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  await ok(podman(['run', '--detach', '--name', o.name, '--network', o.network, '--volume', `${o.volume}:${SPOOL}`,
    '--publish', `127.0.0.1:${o.port}:4000`, ...env, o.image]), `podman run ${o.name}`);
}

/** s3rver (the service's optional dependency, so in the image) answering as host `s3` on the network. */
export async function runS3(o: { image: string; name: string; network: string; port: number }): Promise<void> {
  await ok(podman(['run', '--detach', '--name', o.name, '--network', o.network, '--network-alias', 's3',
    '--publish', `127.0.0.1:${o.port}:4568`, '--entrypoint', 'node', o.image,
    // Path-style only: s3rver would otherwise take the host name `s3` for a bucket name.
    'node_modules/s3rver/bin/s3rver.js', '--directory', SPOOL, '--address', '0.0.0.0', '--port', '4568', '--no-vhost-buckets',
    '--configure-bucket', BUCKET]),
  `podman run ${o.name}`);
}

/** The environment that points the service at runS3's target. */
export const S3_ENV: Record<string, string> = {
  S3_BUCKET: BUCKET, S3_ENDPOINT: 'http://s3:4568', S3_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER',
};

export async function logs(name: string): Promise<string> {
  const r = await podman(['logs', name]);
  return r.stdout + r.stderr;
}

/** The service's JSON log lines (podman's own messages on stderr are left out). */
export async function logLines(name: string): Promise<Array<Record<string, unknown>>> {
  const r = await podman(['logs', name]);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function exec(name: string, command: readonly string[]): Promise<string> {
  return ok(podman(['exec', name, ...command]), `podman exec ${name} ${command.join(' ')}`);
}

/** A field of `podman inspect` (Go template) of a container. */
export async function inspect(name: string, format: string): Promise<string> {
  return ok(podman(['container', 'inspect', '--format', format, name]), `podman inspect ${name}`);
}

/** A field of `podman image inspect` (Go template). */
export async function inspectImage(image: string, format: string): Promise<string> {
  return ok(podman(['image', 'inspect', '--format', format, image]), `podman image inspect ${image}`);
}

/** Removes whatever of these exists; never throws (cleanup). */
export async function removeAll(o: { containers?: string[]; volumes?: string[]; networks?: string[] }): Promise<void> {
  for (const c of o.containers ?? []) await podman(['rm', '--force', '--volumes', '--time', '0', c]);
  for (const v of o.volumes ?? []) await podman(['volume', 'rm', '--force', v]);
  for (const n of o.networks ?? []) await podman(['network', 'rm', '--force', n]);
}
