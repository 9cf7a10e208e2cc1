/**
 * The container as a site gets it (issue 22): deploy/Dockerfile built on Node 24 with podman, its size, and
 * how long `podman run` takes to a first `/readyz` 200 on a fresh volume, `runs` times. The service runs as the
 * image starts it with no settings, on the embedded S3 target: the out-of-the-box start, no network of ours in
 * the way. Skipped with the reason where podman, debootstrap or root is missing.
 */
import net from 'node:net';
import { Cleanup, infoRow, median, sleep, type Row } from './harness.js';
import { buildImage, engineMissing, ensureBaseImages, imageBytes, ok, podman, removeImage } from './podman.js';

export interface ContainerStartOptions {
  runs: number;
}

const READY_TIMEOUT_MS = 120_000;
const POLL_MS = 20;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Milliseconds from `podman run` to the first /readyz 200 through the published port. */
async function timeToReady(image: string, name: string, cleanup: Cleanup): Promise<number> {
  const port = await freePort();
  const volume = `${name}-spool`;
  await ok(podman(['volume', 'create', volume]), 'podman volume create');
  cleanup.add(() => podman(['volume', 'rm', '--force', volume]));
  cleanup.add(() => podman(['rm', '--force', '--time', '0', name]));
  const started = performance.now();
  await ok(podman(['run', '--pull=never', '--detach', '--name', name, '--volume', `${volume}:/var/lib/image-spool`, '--publish', `127.0.0.1:${port}:4000`, image]), `podman run ${name}`);
  while (performance.now() - started < READY_TIMEOUT_MS) {
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
    if (status === 200) return performance.now() - started;
    await sleep(POLL_MS);
  }
  const logs = await podman(['logs', name]);
  throw new Error(`container ${name}: no /readyz 200 within ${READY_TIMEOUT_MS / 1000} s; logs:\n${(logs.stdout + logs.stderr).slice(-3000)}`);
}

export async function runContainerStart(o: ContainerStartOptions, cleanup: Cleanup): Promise<Row[]> {
  const bench = 'container';
  const missing = await engineMissing();
  if (missing) return [infoRow(bench, 'container bench SKIPPED', missing)];
  const image = `localhost/image-spool:bench-${process.pid}`;
  const baseSeconds = await ensureBaseImages();
  const buildSeconds = await buildImage(image);
  cleanup.add(() => removeImage(image));
  const size = await imageBytes(image);
  console.log(`container: base images ready in ${baseSeconds.toFixed(1)} s; built in ${buildSeconds.toFixed(1)} s; ${(size / 1e6).toFixed(0)} MB`);
  const times: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    // Each run's container and volume go before the next starts; the image stays for them all.
    const container = new Cleanup();
    try {
      const ms = await timeToReady(image, `image-spool-bench-${process.pid}-${i}`, container);
      console.log(`container: run ${i + 1}/${o.runs}: podman run to the first /readyz 200 in ${ms.toFixed(0)} ms`);
      times.push(ms);
    } finally {
      await container.run();
    }
  }
  const seconds = (ms: number): string => (ms / 1000).toFixed(2);
  return [
    infoRow(bench, 'image size (deploy/Dockerfile on node:24-bookworm-slim), uncompressed', `${(size / 1e6).toFixed(0)} MB`),
    infoRow(bench, `podman run to the first /readyz 200, fresh volume, embedded S3: median (min-max) of ${o.runs}`,
      `${seconds(median(times))} s (${seconds(Math.min(...times))}-${seconds(Math.max(...times))})`),
    infoRow(bench, 'podman build (base images and layer cache as found)', `${buildSeconds.toFixed(0)} s`),
  ];
}
