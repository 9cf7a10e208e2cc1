/**
 * deploy/compose.yaml brought up with podman-compose (Debian's 1.0.3): image-spool and its S3 target (s3rver
 * from the same image) come up, pass their health checks, and one photo goes through to S3. The image is
 * built first from deploy/Dockerfile (as image.test.ts does; podman-compose cannot hand the build the CA
 * bundle npm needs here) under the name the compose file is told to use. Skipped with the reason printed
 * where podman, podman-compose or debootstrap is missing or the user is not root; in CI (CI=true) that fails.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fakeJpeg } from '../helpers/images.js';
import { freePort } from '../helpers/ports.js';
import { curlPost, s3Target, waitReady, waitUploaded, type S3Target } from './clients.js';
import { BUCKET, exec, logs } from './containers.js';
import { buildImage, describeWithEngine, engineMissing, ensureBaseImages, ok, podman, removeImage, ROOT, run, runId } from './engine.js';

const missing = await engineMissing(['podman', 'podman-compose', 'debootstrap']);

describeWithEngine('deploy/compose.yaml with podman-compose', missing, () => {
  const project = runId();
  const image = `localhost/image-spool:${project}`;
  let env: Record<string, string> = {};
  let baseUrl = '';
  let s3: S3Target | undefined;

  const compose = (args: readonly string[]) => run('podman-compose', ['--project-name', project, '--file', path.join(ROOT, 'deploy/compose.yaml'), ...args], { env, timeoutMs: 300_000 });
  /** The container podman-compose made for a service. */
  const container = async (service: string): Promise<string> => {
    const names = await ok(podman(['ps', '--all', '--format', '{{.Names}}', '--filter', `label=io.podman.compose.project=${project}`,
      '--filter', `label=com.docker.compose.service=${service}`]), 'podman ps');
    if (names === '' || names.includes('\n')) throw new Error(`podman-compose made ${JSON.stringify(names)} for service ${service}`);
    return names;
  };

  beforeAll(async () => {
    await ensureBaseImages();
    await buildImage(image);
    const [port, s3Port] = [await freePort(), await freePort()];
    // Published on 127.0.0.1 only; the compose file's defaults would publish the service on every address.
    env = { IMAGE_SPOOL_IMAGE: image, IMAGE_SPOOL_PUBLISH: `127.0.0.1:${port}`, S3_PUBLISH: `127.0.0.1:${s3Port}` };
    baseUrl = `http://127.0.0.1:${port}`;
    s3 = s3Target(`http://127.0.0.1:${s3Port}`, BUCKET);
    await ok(compose(['up', '--detach']), 'podman-compose up');
  }, 900_000);

  afterAll(async () => {
    s3?.close();
    await compose(['down', '--volumes']);
    await podman(['network', 'rm', '--force', `${project}_default`]);
    await removeImage(image);
  }, 120_000);

  it('comes up with its S3 target, both pass their health checks, and one photo goes through to S3', async () => {
    const service = await container('image-spool');
    const target = await container('s3');
    await waitReady(baseUrl, 60_000, () => logs(service));
    expect((await podman(['healthcheck', 'run', service])).code).toBe(0);
    expect((await podman(['healthcheck', 'run', target])).code).toBe(0);

    const answer = await curlPost(baseUrl, 'cam-compose', fakeJpeg(4_000_000));
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    // No ADMIN_TOKEN in the compose file: the service generated one into the spool volume.
    const adminToken = await exec(service, ['cat', '/var/lib/image-spool/admin.token']);
    await waitUploaded(baseUrl, adminToken, s3 as S3Target, [{ id: String(answer.body['id']), sha256: String(answer.body['sha256']) }], 60_000);
  }, 180_000);
});
