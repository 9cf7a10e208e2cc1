/**
 * The contract every S3 server the gateway supports must pass (cf. tus-node-server's one suite for every
 * storage backend): the same cases, run by s3rver.test.ts and ceph-rgw.test.ts, against the built service as
 * a child process (`npm run build` first), through the fault proxy (test/helpers/fault-proxy.ts) where the case
 * needs to see or damage the traffic. Where servers differ (Content-MD5, If-None-Match), the case asserts
 * what each kind must do, from the target's own flags.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, runCli } from '../helpers/cli.js';
import { pollUntil } from '../helpers/crash-harness.js';
import { startFaultProxy, type FaultEvent, type FaultProxy, type FaultProxyOptions } from '../helpers/fault-proxy.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { freePort } from '../helpers/ports.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { getBytes, head, keysUnder, type AnyS3Target } from './targets.js';

const MiB = 2 ** 20;
const PART = 5 * MiB;

interface ImageStatus {
  id: string;
  state: string;
  s3_key: string;
  attempts: number;
  last_error: string | null;
}

type LogLine = Record<string, unknown> & { msg?: string };

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('base64');
}

function logLines(svc: ServiceProcess): LogLine[] {
  return svc.logs.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
}

/** Every service here runs with this admin token: the whole record (last_error included) needs a credential. */
const ADMIN_TOKEN = 'any-s3-contract-admin-token-0123456789';

async function status(svc: ServiceProcess, id: string): Promise<ImageStatus> {
  return (await (await fetch(`${svc.baseUrl}/images/${id}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as ImageStatus;
}

async function post(svc: ServiceProcess, image: Buffer, device = 'cam-any'): Promise<string> {
  const res = await postImage(svc.baseUrl, device, image);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return String(res.body['id']);
}

/** Upload PUTs of parts in the proxy's log: part number, status, Content-MD5. */
function partPuts(events: FaultEvent[], from = 0): Array<{ n: number; status: number | null; md5: string | undefined }> {
  return events.slice(from).filter((e) => e.method === 'PUT' && /[?&]partNumber=\d+/.test(e.target))
    .map((e) => ({ n: Number(/[?&]partNumber=(\d+)/.exec(e.target)?.[1]), status: e.status, md5: e.headers['content-md5'] }));
}

export interface ContractOptions {
  /** Skip the whole suite (the target cannot run here; the caller printed why). */
  skip?: boolean;
}

export function anyS3Contract(title: string, startTarget: () => Promise<AnyS3Target>, options: ContractOptions = {}): void {
  describe.skipIf(options.skip ?? false)(title, { tags: ['any-s3'] }, () => {
    let target: AnyS3Target;
    const cleanups: Array<() => Promise<unknown>> = [];

    beforeAll(async () => {
      target = await startTarget();
    }, 240_000);
    afterEach(async () => {
      while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
    });
    afterAll(async () => {
      await target?.close();
    });

    const spoolDir = async (): Promise<string> => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'spool-any-s3-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      return dir;
    };
    const proxyFor = async (options: Omit<FaultProxyOptions, 'upstream'> = {}): Promise<FaultProxy> => {
      // Where the server does not answer If-None-Match (s3rver), the proxy does, as S3 and RGW do.
      const proxy = await startFaultProxy({ upstream: target.endpoint, emulateIfNoneMatch: !target.honoursIfNoneMatch, ...options });
      cleanups.push(() => proxy.close());
      return proxy;
    };
    const service = async (env: Record<string, string>): Promise<ServiceProcess> => {
      const svc = await startServiceProcess({
        ...target.env, SPOOL_MIN_FREE_BYTES: '0', UPLOAD_BWLIMIT: '100MB', UPLOAD_PART_SIZE: '5MiB',
        RETRY_BASE_MS: '50', RETRY_MAX_MS: '500', ADMIN_TOKEN, ...env,
      });
      cleanups.push(async () => {
        if (svc.child.exitCode === null && svc.child.signalCode === null) svc.kill('SIGKILL');
        await svc.exited;
      });
      return svc;
    };
    const settle = (svc: ServiceProcess, id: string, states: string[], timeoutMs = 60_000, proxy?: FaultProxy): Promise<ImageStatus> => {
      let last = '';
      return pollUntil(async () => {
        const s = await status(svc, id);
        last = `${s.state}, attempts ${s.attempts}, last error ${s.last_error ?? '-'}`;
        return states.includes(s.state) ? s : undefined;
      }, { timeoutMs, intervalMs: 100, what: `image ${id} to be ${states.join(' or ')}`, describe: () => `${last}${proxy ? `; proxy: ${proxy.summary()}` : ''}` });
    };
    const expectExact = async (key: string, image: Buffer): Promise<void> => {
      expect(sha256Hex(await getBytes(target, key)), `bytes of ${key}`).toBe(sha256Hex(image));
      expect((await head(target, key)).Metadata?.['sha256']).toBe(sha256Hex(image));
    };

    it('single PUT: one object per image, the exact bytes, the SHA-256 in metadata, a Content-MD5 on every PUT', async () => {
      const proxy = await proxyFor();
      const prefix = 'single/';
      const svc = await service({ SPOOL_DIR: await spoolDir(), S3_ENDPOINT: proxy.endpoint, S3_PREFIX: prefix });
      const images = [fakeJpeg(40_000), fakeJpeg(1_000_000), fakeJpeg(4_000_000)];
      const keys: string[] = [];
      for (const image of images) {
        const row = await settle(svc, await post(svc, image), ['uploaded']);
        await expectExact(row.s3_key, image);
        keys.push(row.s3_key);
        const puts = proxy.events.filter((e) => e.method === 'PUT' && e.target.includes(row.id));
        expect(puts.map((e) => [e.status, e.headers['content-md5']])).toEqual([[200, md5(image)]]);
      }
      expect(await keysUnder(target, prefix)).toEqual([...keys].sort());
    }, 90_000);

    it('multipart: an image above the part size is sent in parts, each with its Content-MD5; one object, exact', async () => {
      const proxy = await proxyFor();
      const prefix = 'multipart/';
      const svc = await service({ SPOOL_DIR: await spoolDir(), S3_ENDPOINT: proxy.endpoint, S3_PREFIX: prefix });
      const image = fakeJpeg(12 * MiB); // parts of 5, 5 and 2 MiB
      const row = await settle(svc, await post(svc, image), ['uploaded']);
      await expectExact(row.s3_key, image);
      expect(partPuts(proxy.events)).toEqual([1, 2, 3].map((n) => ({ n, status: 200, md5: md5(image.subarray((n - 1) * PART, n * PART)) })));
      expect(await keysUnder(target, prefix)).toEqual([row.s3_key]);
      expect(await target.openUploads(prefix)).toEqual([]);
    }, 90_000);

    it('a byte flipped on the wire: refused where Content-MD5 is checked and sent again; stored as is where not', async () => {
      const proxy = await proxyFor();
      const prefix = 'flip/';
      const spool = await spoolDir();
      const svc = await service({ SPOOL_DIR: spool, S3_ENDPOINT: proxy.endpoint, S3_PREFIX: prefix });
      const single = fakeJpeg(1_000_000);
      const large = fakeJpeg(12 * MiB);
      // The first PUT of each image: the single PUT, then part 1 (HEAD and POST come first, and pass).
      proxy.schedule({ kind: 'corrupt', method: 'PUT', at: 0.5 });
      const a = await settle(svc, await post(svc, single), ['uploaded'], 60_000, proxy);
      proxy.schedule({ kind: 'corrupt', method: 'PUT', at: 0.5 });
      const b = await settle(svc, await post(svc, large), ['uploaded'], 60_000, proxy);
      expect(proxy.counters.faults.corrupt).toBe(2);
      const retries = logLines(svc).filter((l) => l.msg === 'upload failed; will retry');
      if (target.checksContentMd5) {
        // Refused (400 BadDigest), retried as a network fault, stored exact.
        expect(retries.map((l) => [l['id'], l['kind'], String(l['err']).split(' ')[0]])).toEqual([[a.id, 'transient', 'BadDigest'], [b.id, 'transient', 'BadDigest']]);
        expect([a.attempts, b.attempts]).toEqual([2, 2]);
        await expectExact(a.s3_key, single);
        await expectExact(b.s3_key, large);
        expect(await target.openUploads(prefix)).toEqual([]);
      } else {
        // Nothing refuses it: the damage is in the bucket, and only `verify --deep` sees it.
        expect(retries).toEqual([]);
        const deep = await runCli(['verify', '--deep', '--json'], { ...target.env, S3_ENDPOINT: target.endpoint, SPOOL_DIR: spool });
        expect(deep.code).toBe(1);
        expect(jsonLines(deep.stdout).slice(0, -1).map((f) => [f['id'], f['kind'], f['from']]).sort())
          .toEqual([[a.id, 'checksum_mismatch', 'body'], [b.id, 'checksum_mismatch', 'body']].sort());
      }
    }, 120_000);

    it('resume after SIGKILL: the parts S3 holds are kept, the log says how many were reused and how many sent', async () => {
      const proxy = await proxyFor();
      const prefix = 'resume/';
      const env = { SPOOL_DIR: await spoolDir(), S3_ENDPOINT: proxy.endpoint, S3_PREFIX: prefix, UPLOAD_BWLIMIT: '10MB' };
      const first = await service(env);
      const image = fakeJpeg(31 * MiB); // 7 parts: 6 x 5 MiB + 1 MiB
      const id = await post(first, image);
      await pollUntil(() => (partPuts(proxy.events).filter((p) => p.status === 200).length >= 3 ? true : undefined),
        { timeoutMs: 60_000, what: 'three parts stored', describe: () => proxy.summary() });
      first.kill('SIGKILL');
      await first.exited;
      const before = partPuts(proxy.events).filter((p) => p.status === 200).map((p) => p.n);
      const mark = proxy.events.length;
      const second = await service(env);
      const row = await settle(second, id, ['uploaded'], 60_000, proxy);
      await expectExact(row.s3_key, image);
      const resumed = logLines(second).filter((l) => String(l.msg).startsWith('multipart upload resumed'));
      expect(resumed).toHaveLength(1);
      const line = resumed[0] as LogLine;
      expect(line).toMatchObject({ id, key: row.s3_key, parts: 7 });
      const reused = Number(line['parts_reused']);
      expect(reused).toBeGreaterThanOrEqual(before.length);
      expect(line['parts_to_send']).toBe(7 - reused);
      expect(line['msg']).toBe(`multipart upload resumed: ${reused} of 7 parts reused from S3, ${7 - reused} to send`);
      const after = partPuts(proxy.events, mark).map((p) => p.n);
      expect(after).toHaveLength(7 - reused);
      for (const n of before) expect(after).not.toContain(n);
      expect(await target.openUploads(prefix)).toEqual([]);
    }, 150_000);

    it('the answer to CompleteMultipartUpload is lost: the retry finds the object stored and completes nothing twice', async () => {
      // POST #1 creates the upload, POST #2 completes it: S3 completes it, the answer never arrives.
      const proxy = await proxyFor({ schedule: [{ kind: 'none', method: 'POST' }, { kind: 'drop', method: 'POST' }] });
      const prefix = 'lost-complete/';
      const svc = await service({ SPOOL_DIR: await spoolDir(), S3_ENDPOINT: proxy.endpoint, S3_PREFIX: prefix });
      const image = fakeJpeg(12 * MiB);
      const row = await settle(svc, await post(svc, image), ['uploaded'], 60_000, proxy);
      expect(proxy.counters.faults.drop).toBe(1);
      expect(row.attempts).toBe(2);
      expect(proxy.events.filter((e) => e.method === 'POST')).toHaveLength(2);
      expect(partPuts(proxy.events).map((p) => p.n)).toEqual([1, 2, 3]);
      expect(logLines(svc).find((l) => l.msg === 'upload ok')).toMatchObject({ id: row.id, outcome: 'already-present' });
      await expectExact(row.s3_key, image);
      expect(await keysUnder(target, prefix)).toEqual([row.s3_key]);
      expect(await target.openUploads(prefix)).toEqual([]);
    }, 90_000);

    it('key conflict (412): other content at the key is never overwritten, and costs one body at most, then HEADs', async () => {
      const prefix = 'conflict/';
      const spool = await spoolDir();
      // A first run that cannot reach S3 queues the images (paused, no attempt spent), so their keys are known
      // before any upload: another writer then takes both keys.
      const offline = await service({ SPOOL_DIR: spool, S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`, S3_PREFIX: prefix });
      const single = fakeJpeg(3_000_000);
      const large = fakeJpeg(12 * MiB);
      const ids = [await post(offline, single), await post(offline, large)];
      const keys = await Promise.all(ids.map(async (id) => (await status(offline, id)).s3_key));
      offline.kill('SIGTERM');
      await offline.exited;
      const proxy = await proxyFor();
      const writer = new S3Client({
        endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED',
        credentials: { accessKeyId: target.env['AWS_ACCESS_KEY_ID'] ?? '', secretAccessKey: target.env['AWS_SECRET_ACCESS_KEY'] ?? '' },
      });
      const theirs = keys.map(() => fakeJpeg(5000));
      for (const [i, key] of keys.entries()) await writer.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: theirs[i] }));
      writer.destroy();
      const mark = proxy.events.length;

      const svc = await service({ SPOOL_DIR: spool, S3_ENDPOINT: proxy.endpoint, S3_PREFIX: prefix, MAX_ATTEMPTS: '3' });
      const rows = await Promise.all(ids.map((id) => settle(svc, id, ['dead', 'uploaded'], 60_000, proxy)));
      for (const [i, row] of rows.entries()) {
        expect(row.state).toBe('dead');
        expect(row.last_error).toMatch(/already exists with other content/);
        expect(sha256Hex(await getBytes(target, row.s3_key)), 'their object is intact').toBe(sha256Hex(theirs[i] as Buffer));
      }
      const sent = (id: string, method: string): FaultEvent[] => proxy.events.slice(mark).filter((e) => e.method === method && e.target.includes(id));
      // The single PUT: its first attempt sends the body and gets 412 (after the body, on RGW); every later
      // attempt HEADs the key first and sends nothing more. Three attempts, one body.
      const [singleId, largeId] = ids as [string, string];
      expect(sent(singleId, 'PUT').map((e) => e.status)).toEqual([412]);
      expect(sent(singleId, 'HEAD').length).toBeGreaterThanOrEqual(3);
      const singleBytes = proxy.events.slice(mark).filter((e) => e.target.includes(singleId)).reduce((sum, e) => sum + e.bytes, 0);
      expect(singleBytes).toBeGreaterThan(single.length);
      expect(singleBytes).toBeLessThan(single.length + 20_000);
      // The multipart image: the key is checked before the upload is created: no part, no POST, HEADs only.
      expect(sent(largeId, 'PUT')).toEqual([]);
      expect(sent(largeId, 'POST')).toEqual([]);
      expect(sent(largeId, 'HEAD')).toHaveLength(3);
      expect(await target.openUploads(prefix)).toEqual([]);
    }, 120_000);

    it('outage and recovery: S3 down, images are still taken, uploads pause (/readyz says why) and resume; nothing lost', async () => {
      const prefix = 'outage/';
      const svc = await service({ SPOOL_DIR: await spoolDir(), S3_ENDPOINT: target.endpoint, S3_PREFIX: prefix });
      const images = [fakeJpeg(200_000), fakeJpeg(2_000_000), fakeJpeg(7 * MiB)];
      const ids = [await post(svc, images[0] as Buffer)];
      await settle(svc, ids[0] as string, ['uploaded']);
      await target.stop();
      try {
        for (const image of images.slice(1)) ids.push(await post(svc, image));
        const ready = await pollUntil(async () => {
          const res = await fetch(`${svc.baseUrl}/readyz`);
          const body = (await res.json()) as { checks: { uploader: { ok: boolean; message: string } } };
          return res.status === 503 && !body.checks.uploader.ok ? body.checks.uploader.message : undefined;
        }, { timeoutMs: 30_000, what: '/readyz to report the pause' });
        expect(ready).toMatch(/^paused: .*ECONNREFUSED/);
        for (const id of ids.slice(1)) expect((await status(svc, id)).state).toBe('queued');
      } finally {
        await target.start();
      }
      const rows = await Promise.all(ids.map((id) => settle(svc, id, ['uploaded'], 90_000)));
      for (const [i, row] of rows.entries()) await expectExact(row.s3_key, images[i] as Buffer);
      expect(logLines(svc).filter((l) => String(l.msg).startsWith('uploads resumed'))).toHaveLength(1);
      expect((await fetch(`${svc.baseUrl}/readyz`)).status).toBe(200);
      expect(await keysUnder(target, prefix)).toEqual(rows.map((r) => r.s3_key).sort());
    }, 150_000);

    it('image-spool verify --deep: clean after uploads; an object rewritten behind the ledger is found by its bytes', async () => {
      const prefix = 'verify/';
      const spool = await spoolDir();
      const svc = await service({ SPOOL_DIR: spool, S3_ENDPOINT: target.endpoint, S3_PREFIX: prefix });
      const images = [fakeJpeg(30_000), fakeJpeg(600_000), fakeJpeg(6 * MiB)];
      const rows: ImageStatus[] = [];
      for (const image of images) rows.push(await settle(svc, await post(svc, image), ['uploaded']));
      const env = { ...target.env, S3_ENDPOINT: target.endpoint, SPOOL_DIR: spool };
      const verify = async (...args: string[]): Promise<{ code: number; findings: Array<Record<string, unknown>>; summary: Record<string, unknown> }> => {
        const r = await runCli(['verify', '--json', ...args], env);
        const lines = jsonLines(r.stdout);
        expect(lines.at(-1)?.['summary'], r.stderr).toBeDefined();
        return { code: r.code, findings: lines.slice(0, -1), summary: lines.at(-1)?.['summary'] as Record<string, unknown> };
      };
      for (const deep of [[], ['--deep']]) {
        const r = await verify(...deep);
        expect(r.code).toBe(0);
        expect(r.summary).toMatchObject({ checked: 3, ok: 3, missing: 0, checksum_mismatch: 0, error: 0 });
      }
      // Same length, same metadata, other bytes: only reading them tells.
      const victim = rows[1] as ImageStatus;
      const other = fakeJpeg(600_000);
      await target.client.send(new PutObjectCommand({ Bucket: target.bucket, Key: victim.s3_key, Body: other, Metadata: { sha256: sha256Hex(images[1] as Buffer) } }));
      expect((await verify()).code).toBe(0);
      const deep = await verify('--deep');
      expect(deep.code).toBe(1);
      expect(deep.findings).toEqual([{ id: victim.id, s3_key: victim.s3_key, kind: 'checksum_mismatch', expected_sha256: sha256Hex(images[1] as Buffer), actual_sha256: sha256Hex(other), from: 'body' }]);
    }, 90_000);
  });
}
