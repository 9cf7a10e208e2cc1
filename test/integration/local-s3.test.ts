/**
 * The embedded S3 target (no S3_BUCKET): s3rver plus the calls it lacks, so it answers every call the
 * uploader makes. First its multipart contract against the SDK, then the real thing: a service on the
 * embedded target stopped (SIGTERM) and killed (SIGKILL) while large images go up in parts; on each restart
 * the uploader resumes with ListParts, and every image ends in the bucket with its exact bytes, none dead.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, ListPartsCommand,
  S3Client, S3ServiceException, UploadPartCommand,
} from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalS3 } from '../../src/s3/local-server.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { freePort } from '../helpers/ports.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';

const MiB = 2 ** 20;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

function clientFor(port: number): S3Client {
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  cleanups.push(async () => client.destroy());
  return client;
}

async function objectBytes(client: S3Client, key: string): Promise<Buffer> {
  const res = await client.send(new GetObjectCommand({ Bucket: 'images', Key: key }));
  return Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function s3ErrorName(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    if (err instanceof S3ServiceException) return err.name;
    throw err;
  }
  return 'no error';
}

describe('embedded S3 target', () => {
  it('lists parts (paged, with their MD5 ETags and sizes), completes, and aborts multipart uploads', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'local-s3-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const local = await createLocalS3({ port: 0, dataDir, bucket: 'images' });
    cleanups.push(() => local.close());
    const client = clientFor(local.port);
    const Bucket = 'images';
    const Key = 'cam 1/2026/photo+1.jpg';
    const bodies = [fakeJpeg(5 * MiB), fakeJpeg(300_000)];
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const etags: string[] = [];
    for (const [i, Body] of bodies.entries()) {
      etags.push((await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }))).ETag ?? '');
    }

    const all = await client.send(new ListPartsCommand({ Bucket, Key, UploadId }));
    expect(all.IsTruncated).toBe(false);
    expect(all.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual(bodies.map((b, i) =>
      [i + 1, `"${createHash('md5').update(b).digest('hex')}"`, b.length]));
    expect(all.Parts?.map((p) => p.ETag)).toEqual(etags);
    const first = await client.send(new ListPartsCommand({ Bucket, Key, UploadId, MaxParts: 1 }));
    expect([first.IsTruncated, first.NextPartNumberMarker, first.Parts?.map((p) => p.PartNumber)]).toEqual([true, '1', [1]]);
    const rest = await client.send(new ListPartsCommand({ Bucket, Key, UploadId, PartNumberMarker: first.NextPartNumberMarker }));
    expect([rest.IsTruncated, rest.Parts?.map((p) => p.PartNumber)]).toEqual([false, [2]]);
    // Another key does not see this upload.
    expect(await s3ErrorName(client.send(new ListPartsCommand({ Bucket, Key: 'other.jpg', UploadId })))).toBe('NoSuchUpload');

    await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    expect((await objectBytes(client, Key)).equals(Buffer.concat(bodies))).toBe(true);
    expect(await s3ErrorName(client.send(new ListPartsCommand({ Bucket, Key, UploadId })))).toBe('NoSuchUpload');

    const second = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: 'aborted.jpg' }));
    await client.send(new UploadPartCommand({ Bucket, Key: 'aborted.jpg', UploadId: second.UploadId, PartNumber: 1, Body: fakeJpeg(1000) }));
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key: 'aborted.jpg', UploadId: second.UploadId }));
    expect(await s3ErrorName(client.send(new ListPartsCommand({ Bucket, Key: 'aborted.jpg', UploadId: second.UploadId })))).toBe('NoSuchUpload');
    expect(await s3ErrorName(client.send(new AbortMultipartUploadCommand({ Bucket, Key: 'aborted.jpg', UploadId: second.UploadId })))).toBe('NoSuchUpload');
  });

  it('a service on the embedded target, stopped and killed mid multipart, uploads every image byte-exact; none dead', async () => {
    const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'spool-local-s3-'));
    cleanups.push(() => rm(spoolDir, { recursive: true, force: true }));
    const port = await freePort();
    // No S3_BUCKET: the embedded target. Few attempts and short backoff: an image the restart could not
    // resume would be dead within a second or two instead of after minutes.
    const env = { SPOOL_DIR: spoolDir, LOCAL_S3_PORT: String(port), UPLOAD_PART_SIZE: '5MiB', UPLOAD_BWLIMIT: '8MB', UPLOAD_CONCURRENCY: '2',
      SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100', MAX_ATTEMPTS: '2', RETRY_BASE_MS: '50', RETRY_MAX_MS: '200' };
    let svc: ServiceProcess | null = null;
    cleanups.push(async () => {
      if (svc && svc.child.exitCode === null && svc.child.signalCode === null) {
        svc.kill('SIGKILL');
        await svc.exited;
      }
    });
    svc = await startServiceProcess(env);
    const images = [fakeJpeg(12 * MiB), fakeJpeg(12 * MiB), fakeJpeg(11 * MiB)]; // three parts each
    const ids: string[] = [];
    for (const [i, image] of images.entries()) {
      const res = await postImage(svc.baseUrl, `cam-${i}`, image);
      expect(res.status).toBe(202);
      ids.push(res.body['id'] as string);
    }
    const db = new Database(path.join(spoolDir, 'ledger.db'), { readonly: true });
    cleanups.push(async () => db.close());
    const partsRecorded = (): number => (db.prepare('SELECT count(*) AS n FROM multipart_parts').get() as { n: number }).n;
    const states = (): string[] => ids.map((id) => (db.prepare('SELECT state FROM images WHERE id = ?').get(id) as { state: string }).state);

    // Stop it while parts are up and others are in flight; start it again, then kill it after more progress.
    await waitFor(() => (partsRecorded() >= 2 ? true : undefined), 30_000, 'two parts recorded');
    svc.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    const atStop = partsRecorded();
    expect(atStop).toBeGreaterThan(0);
    svc = await startServiceProcess(env);
    await waitFor(() => (partsRecorded() > atStop || states().includes('dead') ? true : undefined), 30_000, 'progress after the restart');
    svc.kill('SIGKILL');
    await svc.exited;
    svc = await startServiceProcess(env);
    await waitFor(() => (states().every((s) => s === 'uploaded' || s === 'dead') ? true : undefined), 60_000, 'every image settled');
    const rows = db.prepare(`SELECT id, state, last_error, s3_key FROM images ORDER BY id`).all() as Array<{ id: string; state: string; last_error: string | null; s3_key: string }>;
    expect(rows.map((r) => [r.state, r.last_error])).toEqual(rows.map(() => ['uploaded', null]));

    const client = clientFor(port);
    for (const [i, id] of ids.entries()) {
      const key = rows.find((r) => r.id === id)?.s3_key as string;
      expect(sha256Hex(await objectBytes(client, key))).toBe(sha256Hex(images[i] as Buffer));
    }
    expect(db.prepare('SELECT count(*) AS n FROM multipart_uploads').get()).toEqual({ n: 0 });
  }, 120_000);
});
