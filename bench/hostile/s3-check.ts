/**
 * Every honest receipt in S3 exactly once, with its bytes: the object whose key ends in `/<id>.<ext>` exists
 * once, its SHA-256 is that of the bytes the camera sent, and no other object sits under an honest device.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsCommand, S3Client } from '@aws-sdk/client-s3';
import type { HonestReceipt } from './honest-cameras.js';

/** s3rver on 127.0.0.1 (bench/harness.ts startS3). */
export interface S3Target {
  port: number;
  bucket: string;
}

export interface S3Verdict {
  receipts: number;
  exactlyOnce: number;
  missing: number;
  /** More than one object for one receipt. */
  duplicated: number;
  /** Receipts beyond the first for the same photo (bytes): a resend stored again instead of answered with its receipt. */
  photoTwice: number;
  /** One object, other bytes than the camera sent (or a receipt naming another SHA-256). */
  wrongBytes: number;
  /** Objects under an honest device that no receipt names (stored twice, or stored but its answer never arrived). */
  stray: number;
}

/** `<id>` of `device/YYYY/MM/DD/<id>.<ext>`. */
const idOf = (key: string): string => path.basename(key).replace(/\.[^.]*$/, '');

function client(s3: S3Target): S3Client {
  return new S3Client({
    endpoint: `http://127.0.0.1:${s3.port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
}

/**
 * Object keys under `prefix`, grouped by image id. ListObjects (v1), paged by Marker: s3rver's ListObjectsV2
 * continuation tokens use DES, which Node 20's OpenSSL refuses, so a v2 listing past 1,000 keys fails.
 */
async function keysById(c: S3Client, bucket: string, prefix: string): Promise<Map<string, string[]>> {
  const byId = new Map<string, string[]>();
  let marker: string | undefined;
  for (;;) {
    const page = await c.send(new ListObjectsCommand({ Bucket: bucket, Prefix: prefix, Marker: marker }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [o.Key]));
    for (const key of keys) byId.set(idOf(key), [...(byId.get(idOf(key)) ?? []), key]);
    if (!page.IsTruncated || keys.length === 0) return byId;
    marker = keys.at(-1);
  }
}

/**
 * Waits until every receipt has an object, `deadlineMs` passes, or no new one has appeared for `stallMs`
 * (an upload that stopped making progress). Returns the milliseconds it waited.
 */
export async function waitForUploads(s3: S3Target, prefix: string, receipts: ReadonlyMap<string, HonestReceipt>, o: { deadlineMs: number; stallMs: number }): Promise<number> {
  const c = client(s3);
  const started = performance.now();
  let found = -1;
  let progressAt = started;
  try {
    for (;;) {
      const byId = await keysById(c, s3.bucket, prefix);
      const now = [...receipts.keys()].filter((id) => byId.has(id)).length;
      if (now > found) progressAt = performance.now();
      found = now;
      const elapsed = performance.now() - started;
      if (found === receipts.size || elapsed > o.deadlineMs || performance.now() - progressAt > o.stallMs) return elapsed;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  } finally {
    c.destroy();
  }
}

export async function verifyReceipts(s3: S3Target, prefix: string, receipts: ReadonlyMap<string, HonestReceipt>): Promise<S3Verdict> {
  const c = client(s3);
  try {
    const byId = await keysById(c, s3.bucket, prefix);
    const photos = new Set([...receipts.values()].map((r) => r.sha256));
    const verdict: S3Verdict = { receipts: receipts.size, exactlyOnce: 0, missing: 0, duplicated: 0, photoTwice: receipts.size - photos.size, wrongBytes: 0, stray: 0 };
    verdict.stray = [...byId.keys()].filter((id) => !receipts.has(id)).length;
    const single: Array<[HonestReceipt, string]> = [];
    for (const r of receipts.values()) {
      const keys = byId.get(r.id) ?? [];
      if (keys.length === 0) verdict.missing++;
      else if (keys.length > 1) verdict.duplicated++;
      else if (r.receiptSha256 !== r.sha256) verdict.wrongBytes++;
      else single.push([r, keys[0] as string]);
    }
    // A few downloads at once: thousands of 1-4 MB objects, hashed as they stream.
    await eachLimited(single, 4, async ([r, key]) => {
      if ((await sha256Of(c, s3.bucket, key)) === r.sha256) verdict.exactlyOnce++;
      else verdict.wrongBytes++;
    });
    return verdict;
  } finally {
    c.destroy();
  }
}

async function sha256Of(client: S3Client, bucket: string, key: string): Promise<string> {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of object.Body as Readable) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
