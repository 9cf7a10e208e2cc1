import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/in-process.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

/**
 * Issue 18, item 11: the task's own load script, run literally with the real curl binary (a few iterations
 * instead of 100,000) against the built service in a child process. Its `image=adsfkjasdfaskjfsadjf` is
 * text: 415 not_an_image by default, stored as application/octet-stream with IMAGE_FORMATS=any.
 *
 * curl 7.88.1 here sends the literal `-H "Content-Type: multipart/form-data"` as
 * `multipart/form-data; boundary=...`; given the header with a trailing `;` (as the script is also seen
 * written) it sends `multipart/form-data;; boundary=...`, which busboy refused: 415 unsupported_media_type.
 * Both forms are run; what curl really sends is checked first, so the test cannot pass without the `;;`.
 */

const ITERATIONS = 6;
const PAYLOAD = 'adsfkjasdfaskjfsadjf';
const curlMissing = spawnSync('curl', ['--version']).error !== undefined;
if (curlMissing) console.log('load-script test skipped: no curl binary on PATH');

const LITERAL = 'multipart/form-data';
const TRAILING_SEMICOLON = 'multipart/form-data;';

/** The README's script, word for word but for `seq 1 ITERATIONS`, the port and (optionally) the header's `;`. */
const script = (port: number, contentType = LITERAL): string =>
  `seq 1 ${ITERATIONS} | xargs -n1 -P 150 curl -X POST http://localhost:${port}/image -H "Content-Type: ${contentType}" --form device_id=device_1 --form image=${PAYLOAD}`;

/** Runs the script; its stdout is the answers' bodies back to back. */
async function runScript(port: number, contentType = LITERAL): Promise<string> {
  // Its own process group, so a deadline can stop xargs and every curl it started.
  const child = spawn('bash', ['-c', script(port, contentType)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.resume();
  const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 60_000);
  // xargs exits non-zero because `-n1` hands each number to curl as a second URL ("1", "2", ...): ignored.
  await new Promise<void>((resolve) => child.once('close', () => resolve()));
  clearTimeout(timer);
  return stdout;
}

/** The Content-Type header this machine's curl sends for the script's `-H` value (seen by a plain Node server). */
async function curlSends(contentType: string): Promise<string | undefined> {
  let seen: string | undefined;
  const server = createServer((req, res) => {
    seen = req.headers['content-type'];
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    const child = spawn('curl', ['-s', '-o', '/dev/null', '-X', 'POST', `http://127.0.0.1:${port}/image`, '-H', `Content-Type: ${contentType}`, '--form', 'device_id=device_1', '--form', `image=${PAYLOAD}`]);
    child.once('close', () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return seen;
}

interface RequestLine { msg: string; path?: string; status?: number; code?: string }

function logLines(svc: ServiceProcess): RequestLine[] {
  return svc.logs.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RequestLine);
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

async function start(env: Record<string, string>): Promise<{ s3: TestS3; svc: ServiceProcess; spoolDir: string }> {
  const s3 = await startTestS3();
  cleanups.push(() => s3.close());
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-load-'));
  cleanups.push(() => rm(spoolDir, { recursive: true, force: true }));
  const svc = await startServiceProcess({ ...s3Env(s3), SPOOL_DIR: spoolDir, SPOOL_MIN_FREE_BYTES: '0', UPLOAD_BWLIMIT: '50MB', ...env });
  cleanups.push(async () => { svc.kill('SIGTERM'); await svc.exited; });
  return { s3, svc, spoolDir };
}

describe.skipIf(curlMissing)('the literal load script with the real curl binary', () => {
  it('curl sends the header with a trailing ";" as "multipart/form-data;; boundary=..." (what the next test needs)', async () => {
    expect(await curlSends(TRAILING_SEMICOLON)).toMatch(/^multipart\/form-data;; boundary=-+[0-9a-f]+$/);
  });

  it.each([
    ['as written', LITERAL],
    ['with the trailing ";" (curl sends ";;")', TRAILING_SEMICOLON],
  ])('by default, header %s: every request 415 not_an_image (not unsupported_media_type), nothing stored', async (_name, contentType) => {
    const { s3, svc, spoolDir } = await start({});
    const out = await runScript(svc.port, contentType);
    const requests = await waitFor(() => {
      const lines = logLines(svc).filter((l) => l.msg === 'request' && l.path === '/image');
      return lines.length >= ITERATIONS ? lines : undefined;
    }, 10_000, 'the access-log line of every request');
    expect(requests.map((l) => l.status)).toEqual(Array(ITERATIONS).fill(415));
    const codes = logLines(svc).filter((l) => l.msg === 'request failed').map((l) => l.code);
    expect(codes).toEqual(Array(ITERATIONS).fill('not_an_image'));
    expect(count(out, '"code":"not_an_image"'), out).toBe(ITERATIONS);
    expect(out).not.toContain('unsupported_media_type');
    expect(await readdir(path.join(spoolDir, 'images'))).toEqual([]);
    expect(await s3.listAll()).toEqual([]);
  }, 90_000);

  it.each([
    ['as written', LITERAL],
    ['with the trailing ";"', TRAILING_SEMICOLON],
  ])('IMAGE_FORMATS=any, header %s: every request accepted (one 202, resends 200), the bytes reach S3 as application/octet-stream', async (_name, contentType) => {
    const { s3, svc, spoolDir } = await start({ IMAGE_FORMATS: 'any' });
    const out = await runScript(svc.port, contentType);
    const requests = await waitFor(() => {
      const lines = logLines(svc).filter((l) => l.msg === 'request' && l.path === '/image');
      return lines.length >= ITERATIONS ? lines : undefined;
    }, 10_000, 'the access-log line of every request');
    // The same bytes from the same device: the first is stored (202), the others are resends of it (200).
    const statuses = requests.map((l) => l.status).sort();
    expect(statuses).toEqual([...Array(ITERATIONS - 1).fill(200), 202]);
    const ids = [...out.matchAll(/"id":"([0-9A-Z]{26})"/g)].map((m) => m[1]);
    expect(ids.length, out).toBe(ITERATIONS);
    expect(new Set(ids).size, out).toBe(1);
    expect(count(out, '"content_type":"application/octet-stream"'), out).toBe(ITERATIONS);

    const objects = await waitFor(async () => {
      const list = await s3.listAll();
      return list.length > 0 ? list : undefined;
    }, 30_000, 'the object in S3');
    expect(objects).toHaveLength(1);
    const key = objects[0]?.Key as string;
    expect(key).toMatch(new RegExp(`^device_1/\\d{4}/\\d{2}/\\d{2}/${ids[0]}\\.bin$`));
    expect((await s3.getBytes(key)).toString('latin1')).toBe(PAYLOAD);
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    expect(head.ContentType).toBe('application/octet-stream');

    // Served back as stored, and a browser is told not to guess its type.
    const token = (await readFile(path.join(spoolDir, 'admin.token'), 'utf8')).trim();
    const res = await fetch(`${svc.baseUrl}/images/${ids[0]}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(PAYLOAD);
  }, 90_000);
});
