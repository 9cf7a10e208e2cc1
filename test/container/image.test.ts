/**
 * deploy/Dockerfile built on Node 24 and run with podman, as a site runs it: the spool on a named volume, an
 * S3 target beside it, the port published on 127.0.0.1. One container lives through the steps below in
 * order (start, uploads, `podman stop`, `podman start`, `podman kill`, `podman start`), so each step also
 * proves that the spool survived the one before. Skipped with the reason printed where podman or debootstrap
 * is missing or the user is not root; in CI (CI=true) that is a failure instead. .ci/run installs them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { freePort } from '../helpers/ports.js';
import { curlPost, heldUpload, imageStatus, metric, s3Target, waitReady, waitUploaded, type Answer, type S3Target } from './clients.js';
import { BUCKET, exec, inspect, inspectImage, logLines, logs, removeAll, runS3, runService, S3_ENV } from './containers.js';
import { buildImage, describeWithEngine, engineMissing, ensureBaseImages, imageBytes, ok, podman, removeImage, runId } from './engine.js';

const missing = await engineMissing();

interface Receipt {
  id: string;
  sha256: string;
}

describeWithEngine('deploy/Dockerfile built and run with podman', missing, () => {
  const id = runId();
  const image = `localhost/image-spool:${id}`;
  const names = { service: `${id}-service`, s3: `${id}-s3`, network: id, volume: `${id}-spool` };
  const adminToken = randomBytes(16).toString('hex');
  // Long enough that the drain below is never cut short by a timer on a loaded machine.
  const env = { ...S3_ENV, ADMIN_TOKEN: adminToken, SHUTDOWN_GRACE_MS: '120000', INGEST_BODY_TIMEOUT_MS: '120000' };
  let port = 0;
  let baseUrl = '';
  let s3: S3Target | undefined;
  const acked: Receipt[] = [];

  /** A 202 for `sent`: the receipt holds the hash of the bytes posted, which the service must have reported. */
  const ack = (answer: Answer, sent: Buffer): Receipt => {
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    const sha256 = createHash('sha256').update(sent).digest('hex');
    expect(answer.body['sha256'], 'the sha256 the service reports is not that of the bytes sent').toBe(sha256);
    const receipt = { id: String(answer.body['id']), sha256 };
    acked.push(receipt);
    return receipt;
  };
  const keyOf = async (receipt: Receipt): Promise<string> => {
    const key = (await imageStatus(baseUrl, adminToken, receipt.id)).s3_key;
    if (!key) throw new Error(`image ${receipt.id} has no S3 key`);
    return key;
  };
  const setRate = async (rate: string | null): Promise<void> => {
    const res = await fetch(`${baseUrl}/admin/bwlimit`, {
      method: 'PUT', body: JSON.stringify({ rate }), headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    });
    expect(res.status, await res.clone().text()).toBe(200);
  };
  /** Polls something podman answers (a process per call): at most a few times a second. */
  const poll = <T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> =>
    waitFor(async () => { await sleep(200); return check(); }, timeoutMs, what);
  const inFlight = (name: string): Promise<true> =>
    waitFor(async () => ((await metric(baseUrl, name)) >= 1 ? true : undefined), 30_000, `${name} >= 1`);

  beforeAll(async () => {
    const baseSeconds = await ensureBaseImages();
    const buildSeconds = await buildImage(image);
    console.log(`container: base images ready in ${baseSeconds.toFixed(1)} s; deploy/Dockerfile built in ${buildSeconds.toFixed(1)} s; `
      + `image ${((await imageBytes(image)) / 1e6).toFixed(0)} MB`);
    await ok(podman(['network', 'create', names.network]), 'podman network create');
    await ok(podman(['volume', 'create', names.volume]), 'podman volume create');
    const s3Port = await freePort();
    await runS3({ image, name: names.s3, network: names.network, port: s3Port });
    const target = s3Target(`http://127.0.0.1:${s3Port}`, BUCKET);
    s3 = target;
    await waitFor(() => target.sha256('none').then(() => true, () => undefined), 60_000, 's3rver in its container');
    port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
  }, 900_000);

  afterAll(async () => {
    s3?.close();
    await removeAll({ containers: [names.service, names.s3], volumes: [names.volume], networks: [names.network] });
    await removeImage(image);
  }, 120_000);

  it('starts on Node 24 with node itself as PID 1, as the image-spool user; /healthz, /readyz and its HEALTHCHECK follow readiness', async () => {
    const started = Date.now();
    await runService({ image, name: names.service, network: names.network, volume: names.volume, port, env });
    await waitReady(baseUrl, 60_000, () => logs(names.service));
    console.log(`container: podman run to the first /readyz 200 in ${Date.now() - started} ms`);
    expect(await (await fetch(`${baseUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${baseUrl}/readyz`)).json()).toMatchObject({ status: 'ready' });

    // PID 1 is the service itself, so `podman stop`'s SIGTERM reaches it (no shell in between).
    expect((await exec(names.service, ['cat', '/proc/1/cmdline'])).split('\0').filter(Boolean)).toEqual(['node', 'bin/image-spool.cjs', 'serve']);
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(await exec(names.service, ['cat', '/proc/1/status']));
    expect(uids?.[1]).not.toBe('0');
    expect(uids?.[2]).not.toBe('0');
    expect(await exec(names.service, ['id', '-nu', uids?.[1] ?? '0'])).toBe('image-spool');
    const listening = (await logLines(names.service)).find((l) => l['msg'] === 'image-spool listening');
    expect(listening?.['node']).toMatch(/^v24\./);

    // The HEALTHCHECK survived the build (docker format) and asks /readyz: it fails while the spool is unusable.
    expect(await inspectImage(image, '{{json .Config.Healthcheck.Test}}')).toContain('/readyz');
    expect((await podman(['healthcheck', 'run', names.service])).code).toBe(0);
    await exec(names.service, ['mv', '/var/lib/image-spool/images', '/var/lib/image-spool/images.moved']);
    try {
      const check = await podman(['healthcheck', 'run', names.service]);
      expect(check.code).toBe(1);
      expect(check.stdout).toContain('unhealthy');
    } finally {
      await exec(names.service, ['mv', '/var/lib/image-spool/images.moved', '/var/lib/image-spool/images']);
    }
    expect((await podman(['healthcheck', 'run', names.service])).code).toBe(0);
  }, 120_000);

  it('acknowledges a ~4 MB photo from curl and one from fetch, and uploads both to the S3 target', async () => {
    const curlPhoto = fakeJpeg(4_000_000);
    const fetchPhoto = fakeJpeg(4_000_000);
    ack(await curlPost(baseUrl, 'cam-curl', curlPhoto), curlPhoto);
    ack(await postImage(baseUrl, 'cam-fetch', fetchPhoto), fetchPhoto);
    await waitUploaded(baseUrl, adminToken, s3 as S3Target, acked, 60_000);
  }, 120_000);

  it('podman stop: SIGTERM reaches the service, which finishes the S3 upload and the device upload in flight, then exits 0', async () => {
    await setRate('1Mbit'); // 125 kB/s: the 2 MB image below takes ~16 s to upload
    const drainPhoto = fakeJpeg(2_000_000);
    const uploading = ack(await curlPost(baseUrl, 'cam-drain', drainPhoto), drainPhoto);
    const key = await keyOf(uploading);
    await inFlight('image_spool_uploads_in_flight');
    const heldPhoto = fakeJpeg(200_000);
    const held = heldUpload(port, 'cam-held', heldPhoto);
    await inFlight('image_spool_ingests_in_flight');

    const stopped = podman(['stop', '--time', '150', names.service], 200_000);
    const draining = await poll(async () => (await logLines(names.service)).find((l) => String(l['msg']).startsWith('draining')), 60_000, 'the drain log line');
    // What the service held when SIGTERM came: the device upload and the S3 upload, both unfinished.
    expect(draining['in_flight_ingests']).toBe(1);
    expect(draining['active_uploads']).toBeGreaterThanOrEqual(1);
    ack(await held.finish(), heldPhoto); // acknowledged while draining

    expect((await stopped).code).toBe(0);
    expect(await inspect(names.service, '{{.State.ExitCode}}')).toBe('0');
    const lines = await logLines(names.service);
    expect(lines.find((l) => l['msg'] === 'shutting down')).toMatchObject({ signal: 'SIGTERM' });
    expect(lines.at(-1)?.['msg']).toBe('stopped');
    expect(await s3?.sha256(key)).toBe(uploading.sha256); // finished during the drain, not cut off
  }, 240_000);

  it('podman kill and a restart on the same volume lose no acknowledged image', async () => {
    await ok(podman(['start', names.service]), 'podman start');
    await waitReady(baseUrl, 60_000, () => logs(names.service));
    await setRate('8kbit'); // 1 kB/s: none of the images below can reach S3 before the kill
    const before = acked.length;
    for (let i = 0; i < 4; i++) {
      const photo = fakeJpeg(150_000);
      ack(i % 2 === 0 ? await curlPost(baseUrl, `cam-kill-${i}`, photo) : await postImage(baseUrl, `cam-kill-${i}`, photo), photo);
    }
    const pending = acked.slice(before);
    const keys = await Promise.all(pending.map(keyOf));
    const held = heldUpload(port, 'cam-never-acked', fakeJpeg(200_000));
    await inFlight('image_spool_ingests_in_flight');

    await ok(podman(['kill', '--signal', 'KILL', names.service]), 'podman kill');
    expect(await ok(podman(['wait', names.service]), 'podman wait')).toBe('137');
    held.abandon();
    for (const key of keys) expect(await s3?.sha256(key)).toBeNull(); // acknowledged, in the spool only

    await ok(podman(['start', names.service]), 'podman start');
    await waitReady(baseUrl, 60_000, () => logs(names.service));
    await setRate(null); // back to the schedule (100Mbit)
    await waitUploaded(baseUrl, adminToken, s3 as S3Target, acked, 120_000);
    // Startup recovery removed the half-received upload the kill cut off.
    expect(await exec(names.service, ['find', '/var/lib/image-spool', '-name', '*.part'])).toBe('');
  }, 300_000);

  it('keeps nothing of the npm configuration and CA bundle the build was given', async () => {
    const listing = await ok(podman(['run', '--rm', '--user', 'root', '--entrypoint', 'sh', image, '-c',
      'ls -A /usr/local/etc; ls -A /root /opt/image-spool | grep -i npmrc || true']), 'podman run ls');
    expect(listing).toBe('');
  }, 60_000);
});
