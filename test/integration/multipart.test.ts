/**
 * Images above UPLOAD_PART_SIZE go up as multipart uploads driven by the uploader: parts throttled like any
 * upload, the UploadId and finished parts in the ledger, a crash resumes with ListParts (at most the
 * in-flight part is sent again), and a permanent failure aborts the upload. A server that cannot list parts
 * (405/501) gets the upload started over instead. The test S3 server is the product's embedded target
 * (s3rver with ListParts and AbortMultipartUpload added); test/helpers/s3-multipart-ext.ts logs the requests
 * in front of it and injects refusals.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, waitFor } from '../helpers/in-process.js';
import { startMultipartFront, type MultipartFront } from '../helpers/s3-multipart-ext.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { startServiceProcess } from '../helpers/service-process.js';

const MiB = 2 ** 20;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

async function s3WithFront(): Promise<{ s3: TestS3; front: MultipartFront }> {
  const s3 = await startTestS3();
  const front = await startMultipartFront(s3);
  cleanups.push(() => s3.close(), () => front.close());
  return { s3, front };
}

const parts = (front: MultipartFront, status = 200) => front.log.filter((r) => r.op === 'UploadPart' && r.status === status).map((r) => r.partNumber);

describe('multipart uploads of large images', () => {
  it('uploads a 20 MB image in four 5 MiB parts through the throttle; the object has the exact bytes', async () => {
    const { s3, front } = await s3WithFront();
    const svc = await startInProcess({ ...s3, endpoint: front.endpoint }, { UPLOAD_PART_SIZE: '5MiB', UPLOAD_BWLIMIT: '100MB', SPOOL_MIN_FREE_BYTES: '0' });
    cleanups.push(() => svc.close());
    const image = fakeJpeg(20_000_000);
    const res = await postImage(svc.baseUrl, 'cam-big', image);
    expect(res.status).toBe(202);
    const id = res.body['id'] as string;
    await waitFor(() => (svc.service.ledger.get(id)?.state === 'uploaded' ? true : undefined), 30_000, 'multipart upload');
    expect(parts(front).sort()).toEqual([1, 2, 3, 4]);
    expect(front.log.filter((r) => r.op === 'CompleteMultipartUpload' && r.status === 200)).toHaveLength(1);
    const key = svc.service.ledger.get(id)?.s3_key as string;
    expect(sha256Hex(await s3.getBytes(key))).toBe(sha256Hex(image));
    expect(await front.openUploads()).toEqual([]);
  }, 60_000);

  it('aborts the multipart upload when a part is refused for good; the image is dead, no parts left in the bucket', async () => {
    const { s3, front } = await s3WithFront();
    front.refuse = (op, n) => (op === 'UploadPart' && n === 2 ? { status: 400, code: 'InvalidDigest' } : null);
    const svc = await startInProcess({ ...s3, endpoint: front.endpoint }, { UPLOAD_PART_SIZE: '5MiB', UPLOAD_BWLIMIT: '100MB', MAX_ATTEMPTS: '1', SPOOL_MIN_FREE_BYTES: '0' });
    cleanups.push(() => svc.close());
    const res = await postImage(svc.baseUrl, 'cam-big', fakeJpeg(12_000_000));
    const id = res.body['id'] as string;
    const row = await waitFor(() => (svc.service.ledger.get(id)?.state === 'dead' ? svc.service.ledger.get(id) : undefined), 30_000, 'dead');
    expect(row.last_error).toMatch(/InvalidDigest/);
    await waitFor(() => (front.log.some((r) => r.op === 'AbortMultipartUpload' && r.status === 204) ? true : undefined), 5000, 'abort');
    expect(await front.openUploads()).toEqual([]);
    expect(await s3.listAll()).toEqual([]);
  }, 60_000);

  it('resumes after SIGKILL with ListParts: finished parts are not sent again, the object is exact', async () => {
    const { s3, front } = await s3WithFront();
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-mp-'));
    cleanups.push(() => rm(spoolDir, { recursive: true, force: true }));
    const env = { ...s3Env(s3), S3_ENDPOINT: front.endpoint, SPOOL_DIR: spoolDir, UPLOAD_PART_SIZE: '5MiB', UPLOAD_BWLIMIT: '10MB', SPOOL_MIN_FREE_BYTES: '0' };
    const first = await startServiceProcess(env);
    const image = fakeJpeg(31 * MiB); // 7 parts: 6 x 5 MiB + 1 MiB
    const res = await postImage(first.baseUrl, 'cam-big', image);
    expect(res.status).toBe(202);
    // Kill it for real once three parts are in S3 (the fourth is in flight).
    await waitFor(() => (parts(front).length >= 3 ? true : undefined), 30_000, 'three parts');
    first.kill('SIGKILL');
    await first.exited;
    const before = parts(front);
    const second = await startServiceProcess(env);
    cleanups.push(async () => { second.kill('SIGTERM'); await second.exited; });
    const id = res.body['id'] as string;
    const db = new Database(path.join(spoolDir, 'ledger.db'), { readonly: true });
    cleanups.push(async () => db.close());
    await waitFor(() => ((db.prepare('SELECT state FROM images WHERE id = ?').get(id) as { state: string }).state === 'uploaded' ? true : undefined), 30_000, 'upload after restart');
    const after = parts(front).slice(before.length);
    expect(front.log.some((r) => r.op === 'ListParts' && r.status === 200)).toBe(true);
    // Parts acknowledged before the kill are not sent again; at most the one in flight is.
    for (const n of before) expect(after).not.toContain(n);
    expect(before.length + after.length).toBeLessThanOrEqual(7 + 1);
    expect(new Set([...before, ...after])).toEqual(new Set([1, 2, 3, 4, 5, 6, 7]));
    const key = (db.prepare('SELECT s3_key FROM images WHERE id = ?').get(id) as { s3_key: string }).s3_key;
    expect(sha256Hex(await s3.getBytes(key))).toBe(sha256Hex(image));
    expect(db.prepare('SELECT count(*) AS n FROM multipart_uploads').get()).toEqual({ n: 0 });
  }, 90_000);

  it('starts the upload over when the server answers ListParts with 405: new upload, every part sent, the object is exact', async () => {
    const { s3, front } = await s3WithFront();
    // A server without ListParts (s3rver alone, some gateways): it answers 405 MethodNotAllowed.
    front.refuse = (op) => (op === 'ListParts' ? { status: 405, code: 'MethodNotAllowed' } : null);
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-mp405-'));
    cleanups.push(() => rm(spoolDir, { recursive: true, force: true }));
    // Few attempts, short backoff: were the 405 taken as the image's fault, it would be dead within a second.
    const env = { ...s3Env(s3), S3_ENDPOINT: front.endpoint, SPOOL_DIR: spoolDir, UPLOAD_PART_SIZE: '5MiB', UPLOAD_BWLIMIT: '10MB',
      SPOOL_MIN_FREE_BYTES: '0', MAX_ATTEMPTS: '2', RETRY_BASE_MS: '50', RETRY_MAX_MS: '200' };
    const first = await startServiceProcess(env);
    const image = fakeJpeg(16 * MiB); // 4 parts
    const res = await postImage(first.baseUrl, 'cam-big', image);
    expect(res.status).toBe(202);
    await waitFor(() => (parts(front).length >= 2 ? true : undefined), 30_000, 'two parts');
    first.kill('SIGKILL');
    await first.exited;
    const firstUpload = front.log.filter((r) => r.op === 'CreateMultipartUpload').length;
    const second = await startServiceProcess(env);
    cleanups.push(async () => { second.kill('SIGTERM'); await second.exited; });
    const id = res.body['id'] as string;
    const db = new Database(path.join(spoolDir, 'ledger.db'), { readonly: true });
    cleanups.push(async () => db.close());
    const stateOf = (): { state: string; last_error: string | null; s3_key: string } =>
      db.prepare('SELECT state, last_error, s3_key FROM images WHERE id = ?').get(id) as { state: string; last_error: string | null; s3_key: string };
    const final = await waitFor(() => (['uploaded', 'dead'].includes(stateOf().state) ? stateOf() : undefined), 30_000, 'upload after restart');
    expect(final).toMatchObject({ state: 'uploaded' });
    expect(front.log.some((r) => r.op === 'ListParts' && r.status === 405)).toBe(true);
    expect(front.log.filter((r) => r.op === 'CreateMultipartUpload').length).toBe(firstUpload + 1);
    // The new upload carries every part; the old one, whose parts could not be listed, was aborted.
    const afterRestart = front.log.slice(front.log.findIndex((r) => r.op === 'ListParts'));
    expect(new Set(afterRestart.filter((r) => r.op === 'UploadPart' && r.status === 200).map((r) => r.partNumber))).toEqual(new Set([1, 2, 3, 4]));
    expect(afterRestart.some((r) => r.op === 'AbortMultipartUpload' && r.status === 204)).toBe(true);
    expect(sha256Hex(await s3.getBytes(final.s3_key))).toBe(sha256Hex(image));
    expect(await front.openUploads()).toEqual([]);
    expect(db.prepare('SELECT count(*) AS n FROM multipart_uploads').get()).toEqual({ n: 0 });
  }, 90_000);
});
