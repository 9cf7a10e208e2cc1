/**
 * Issue 18, item 12: an answer given before the body is read must reach the client. The service used to
 * answer 413 and close while the client was still sending: Node's `fetch` saw EPIPE (6 of 6 times), not the
 * answer. And with `Expect: 100-continue` Node sent `100 Continue` before the service had looked at the
 * request, so a client declaring a huge body was invited to send it, then refused.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg } from '../helpers/images.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

const MAX = 300_000;

/** Runs curl; resolves with everything it printed (`-i`: the status lines and headers of every response, 100 included). */
function curl(args: readonly string[]): Promise<{ out: string; code: number | null; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-i', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ out, code, ms: performance.now() - started }));
  });
}

function form(boundary: string, image: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ncam-1\r\n--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    image,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

describe('answers given before the body is read', () => {
  // A child process, as deployed: in the test's own process the timing hides the EPIPE.
  let s3: TestS3;
  let svc: ServiceProcess;
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'early-answer-'));
    s3 = await startTestS3();
    svc = await startServiceProcess({ ...s3Env(s3), SPOOL_DIR: path.join(dir, 'spool'), MAX_IMAGE_BYTES: String(MAX), UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
  });
  afterAll(async () => {
    svc?.kill('SIGTERM');
    await svc?.exited;
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("Node's fetch posting an over-size body gets the 413 JSON, every time (multipart and JSON, 1.3x and 16x the limit)", async () => {
    const outcomes: string[] = [];
    for (const size of [400_000, 400_000, 400_000, 5_000_000, 5_000_000, 5_000_000]) {
      for (const type of ['multipart', 'json'] as const) {
        const image = fakeJpeg(size);
        const body = new FormData();
        body.append('device_id', 'cam-1');
        body.append('image', new Blob([image]), 'a.jpg');
        const init = type === 'json'
          ? { body: JSON.stringify({ device_id: 'cam-1', image: image.toString('base64') }), headers: { 'content-type': 'application/json' } }
          : { body };
        try {
          const res = await fetch(`${svc.baseUrl}/image`, { method: 'POST', ...init });
          const answer = (await res.json()) as { error?: { code: string } };
          outcomes.push(`${type} ${size}: ${res.status} ${answer.error?.code}`);
        } catch (err) {
          const cause = (err as { cause?: { code?: string } }).cause;
          outcomes.push(`${type} ${size}: ${String(err)} ${cause?.code ?? ''}`);
        }
      }
    }
    expect(outcomes.filter((o) => !o.endsWith(': 413 image_too_large'))).toEqual([]);
    // The connection was kept and drained: the next request on it is answered as usual.
    const res = await fetch(`${svc.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect((await readdir(path.join(dir, 'spool', 'images'))).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it("curl with 'Expect: 100-continue' and a huge Content-Length gets the 413 before sending the body, without a 100 Continue", async () => {
    const file = path.join(dir, 'start.bin');
    await writeFile(file, form('xyz', fakeJpeg(1000)));
    // curl waits up to 10 s for the 100 before sending anyway: an answer within that came before the body.
    const { out, ms } = await curl(['--expect100-timeout', '10', '-H', 'Expect: 100-continue', '-H', 'Content-Type: multipart/form-data; boundary=xyz',
      '-H', 'Content-Length: 100000000000', '--data-binary', `@${file}`, `${svc.baseUrl}/image`]);
    expect(out).not.toMatch(/HTTP\/1\.1 100/);
    expect(out).toMatch(/^HTTP\/1\.1 413 /);
    expect(out).toMatch(/"code":"image_too_large"/);
    expect(out).toMatch(/^connection: close\r$/im);
    expect(ms).toBeLessThan(5_000);
  });

  it("an upload with 'Expect: 100-continue' that is accepted gets its 100 when the service starts reading, then 202", async () => {
    const file = path.join(dir, 'photo.jpg');
    await writeFile(file, fakeJpeg(200_000));
    const { out, ms } = await curl(['--expect100-timeout', '10', '-H', 'Expect: 100-continue', '--form', 'device_id=cam-2', '--form', `image=@${file}`, `${svc.baseUrl}/image`]);
    expect(out).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 /);
    expect(ms).toBeLessThan(5_000);
  });
});
