/**
 * A wrong S3_REGION (or an endpoint of another region) on AWS fails every request the same way: 400
 * AuthorizationHeaderMalformed naming the region S3 expects, or 301 PermanentRedirect with the bucket's region
 * in x-amz-bucket-region; answers to HEAD carry no body, only the status and that header. Not any image's
 * fault: the uploader must pause (no attempt spent, nothing `dead`), and /readyz and the log must say which
 * region S3 wants. Ceph RGW never checks the region, so a small fake S3 answers here with AWS's exact bodies.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../helpers/crash-harness.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

type Mode = 'malformed' | 'redirect';

interface FakeS3 {
  endpoint: string;
  requests: Array<{ method: string; url: string }>;
  close(): Promise<void>;
}

const REQUEST_ID = '4442587FB7D0A2F9';
const HOST_ID = 'Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==';

/** What S3 in eu-west-1 answers a client configured for us-east-1 (captured from AWS; ids shortened). */
function answer(mode: Mode, method: string): { status: number; headers: Record<string, string>; body: string } {
  const headers = { 'content-type': 'application/xml', 'x-amz-request-id': REQUEST_ID, 'x-amz-id-2': HOST_ID, 'x-amz-bucket-region': 'eu-west-1', server: 'AmazonS3' };
  const xml = mode === 'malformed'
    ? '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; ' +
      `the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>${REQUEST_ID}</RequestId><HostId>${HOST_ID}</HostId></Error>`
    : '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed ' +
      'using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>images.s3.eu-west-1.amazonaws.com</Endpoint>' +
      `<Bucket>images</Bucket><RequestId>${REQUEST_ID}</RequestId><HostId>${HOST_ID}</HostId></Error>`;
  return { status: mode === 'malformed' ? 400 : 301, headers, body: method === 'HEAD' ? '' : xml };
}

async function startFakeS3(mode: Mode): Promise<FakeS3> {
  const requests: FakeS3['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    // Refused before the body is read, as S3 does; drain it so the client sees the answer, not EPIPE.
    req.resume();
    const a = answer(mode, req.method ?? '');
    res.writeHead(a.status, { ...a.headers, 'content-length': String(Buffer.byteLength(a.body)) });
    res.end(a.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

interface Readiness {
  status: string;
  checks: { uploader: { ok: boolean; message: string } };
}

async function readiness(svc: ServiceProcess): Promise<{ code: number; body: Readiness }> {
  const res = await fetch(`${svc.baseUrl}/readyz`);
  return { code: res.status, body: (await res.json()) as Readiness };
}

describe('wrong S3 region or endpoint (AWS answers, from a fake S3)', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
  });

  for (const [mode, said] of [['malformed', /\(HTTP 400 AuthorizationHeaderMalformed: The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'\)/],
    ['redirect', /\(HTTP 301 PermanentRedirect: The bucket you are attempting .*\); S3 says the bucket is in region eu-west-1 at images\.s3\.eu-west-1\.amazonaws\.com/]] as const) {
    it(`${mode === 'malformed' ? '400 AuthorizationHeaderMalformed' : '301 PermanentRedirect'}: uploads pause, /readyz and the log name eu-west-1, no image is spent`, async () => {
      const fake = await startFakeS3(mode);
      cleanups.push(() => fake.close());
      const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-region-'));
      cleanups.push(() => rm(spoolDir, { recursive: true, force: true }));
      const svc = await startServiceProcess({
        S3_BUCKET: 'images', S3_ENDPOINT: fake.endpoint, S3_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret',
        SPOOL_DIR: spoolDir, SPOOL_MIN_FREE_BYTES: '0', UPLOAD_PART_SIZE: '5MiB', MAX_ATTEMPTS: '2', RETRY_BASE_MS: '20', RETRY_MAX_MS: '50',
      });
      cleanups.push(async () => {
        svc.kill('SIGKILL');
        await svc.exited;
      });
      // A single PUT (its answer has a body), then a multipart image (taken while paused: it waits, untouched).
      const ids: string[] = [];
      for (const bytes of [200_000, 6 * 2 ** 20]) {
        const res = await postImage(svc.baseUrl, 'cam-region', fakeJpeg(bytes));
        expect(res.status).toBe(202);
        ids.push(String(res.body['id']));
      }
      const first = await pollUntil(async () => {
        const r = await readiness(svc);
        return r.code === 503 && !r.body.checks.uploader.ok ? r.body.checks.uploader.message : undefined;
      }, { timeoutMs: 15_000, what: '/readyz to report the pause', describe: () => JSON.stringify(fake.requests.slice(-4)) });
      expect(first).toMatch(/^paused: wrong S3 region or endpoint \(HTTP (400|301) .*S3 says the bucket is in region eu-west-1.*: set S3_REGION=eu-west-1$/);

      // While paused the uploader probes with HeadBucket: a HEAD, whose answer has no body. Its reason must
      // still name the region (from x-amz-bucket-region).
      const probed = await pollUntil(async () => {
        const message = (await readiness(svc)).body.checks.uploader.message;
        return /without a body/.test(message) ? message : undefined;
      }, { timeoutMs: 15_000, what: 'a probe to fail and say why' });
      expect(probed).toBe(`paused: wrong S3 region or endpoint (HTTP ${mode === 'malformed' ? 400 : 301} without a body); S3 says the bucket is in region eu-west-1: set S3_REGION=eu-west-1`);
      expect(fake.requests.some((r) => r.method === 'HEAD' && r.url === '/images/'), JSON.stringify(fake.requests)).toBe(true);

      const lines = svc.logs.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const paused = lines.filter((l) => String(l['msg']).startsWith('uploads paused'));
      expect(paused).toHaveLength(1);
      expect(String(paused[0]?.['reason'])).toMatch(/S3_REGION=eu-west-1$/);
      // The single PUT was the only image when the uploader first tried: its answer had a body, and it is quoted.
      const systemic = lines.filter((l) => l['msg'] === 'upload failed on a systemic error; image stays queued, attempt not counted');
      expect(String(systemic.find((l) => l['id'] === ids[0])?.['err'])).toMatch(said);
      expect(lines.filter((l) => l['msg'] === 'upload failed; will retry' || String(l['msg']).includes('dead'))).toEqual([]);
      for (const id of ids) {
        const status = (await (await fetch(`${svc.baseUrl}/images/${id}/status`)).json()) as { state: string; attempts: number };
        expect(status).toMatchObject({ state: 'queued', attempts: 0 });
      }
    }, 60_000);
  }
});
