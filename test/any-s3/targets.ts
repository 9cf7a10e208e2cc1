/**
 * The S3 servers the "any S3 server" contract (contract.ts) runs against, behind one interface: s3rver (the
 * test helpers' server, with test/helpers/s3-multipart-ext.ts adding the ListParts it lacks) and a real,
 * independently written one, Ceph RADOS Gateway (test/helpers/ceph-rgw.ts). One bucket, `images`; every case
 * writes under its own S3_PREFIX.
 */
import {
  CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsCommand, S3Client, type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { startCephRgw } from '../helpers/ceph-rgw.js';
import { startMultipartFront } from '../helpers/s3-multipart-ext.js';
import { startTestS3 } from '../helpers/s3.js';

export interface AnyS3Target {
  name: 's3rver' | 'ceph-rgw';
  /** What the service is given as S3_ENDPOINT. */
  endpoint: string;
  bucket: string;
  /** The service's S3 settings and credentials (its environment), without S3_ENDPOINT. */
  env: Record<string, string>;
  /** A client of the test's own, straight to the server. */
  client: S3Client;
  /** Refuses bytes that do not match the Content-MD5 sent with them (RGW; AWS too). */
  checksContentMd5: boolean;
  /** Answers a PUT with If-None-Match: * for a taken key with 412 itself (RGW; AWS too). s3rver does not: the fault proxy stands in. */
  honoursIfNoneMatch: boolean;
  /** Multipart uploads begun and neither completed nor aborted, under a key prefix. */
  openUploads(prefix: string): Promise<string[]>;
  /** An outage: the endpoint refuses connections until start(). */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
  /** How long the server took to start, in seconds. */
  startSeconds: number;
}

const BUCKET = 'images';

function clientFor(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function serviceEnv(accessKeyId: string, secretAccessKey: string): Record<string, string> {
  return { S3_BUCKET: BUCKET, S3_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey };
}

export async function s3rverTarget(): Promise<AnyS3Target> {
  const started = Date.now();
  const s3 = await startTestS3(BUCKET);
  const front = await startMultipartFront(s3);
  return {
    name: 's3rver',
    endpoint: front.endpoint,
    bucket: BUCKET,
    env: serviceEnv('S3RVER', 'S3RVER'),
    client: s3.client,
    checksContentMd5: false,
    honoursIfNoneMatch: false,
    // s3rver has no ListMultipartUploads; the front reads its upload folders (one bucket, so no prefix to filter on).
    openUploads: () => front.openUploads(),
    stop: () => front.stop(),
    start: () => front.start(),
    async close() {
      await front.close();
      await s3.close();
    },
    startSeconds: (Date.now() - started) / 1000,
  };
}

export async function cephRgwTarget(): Promise<AnyS3Target> {
  const rgw = await startCephRgw();
  const client = clientFor(rgw.endpoint, rgw.accessKeyId, rgw.secretAccessKey);
  try {
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  } catch (err) {
    await rgw.close();
    throw err;
  }
  return {
    name: 'ceph-rgw',
    endpoint: rgw.endpoint,
    bucket: BUCKET,
    env: serviceEnv(rgw.accessKeyId, rgw.secretAccessKey),
    client,
    checksContentMd5: true,
    honoursIfNoneMatch: true,
    async openUploads(prefix) {
      const res = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
      return (res.Uploads ?? []).map((u) => u.UploadId ?? '');
    },
    stop: () => rgw.stopGateway(),
    start: () => rgw.startGateway(),
    async close() {
      client.destroy();
      await rgw.close();
    },
    startSeconds: rgw.startSeconds,
  };
}

export async function getBytes(target: AnyS3Target, key: string): Promise<Buffer> {
  const res = await target.client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
  return Buffer.from(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

export function head(target: AnyS3Target, key: string): Promise<HeadObjectCommandOutput> {
  return target.client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
}

/** Every key under a prefix (ListObjects v1: s3rver's v2 continuation tokens fail on OpenSSL 3). */
export async function keysUnder(target: AnyS3Target, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await target.client.send(new ListObjectsCommand({ Bucket: target.bucket, Prefix: prefix, Marker: marker }));
    const contents = page.Contents ?? [];
    keys.push(...contents.map((o) => o.Key ?? ''));
    if (!page.IsTruncated || contents.length === 0) return keys.sort();
    marker = contents.at(-1)?.Key;
  }
}
