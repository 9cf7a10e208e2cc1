/**
 * What the container tests use from the host: devices (curl, Node's fetch, and a slow node:http upload held
 * open mid-body), the service's own endpoints, and an S3 client reading what reached the target.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sha256Hex } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { parseExposition, sampleValue } from '../helpers/prometheus.js';

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** POST /image with curl, as most devices in the field do. */
export async function curlPost(baseUrl: string, deviceId: string, image: Buffer): Promise<Answer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'curl-image-'));
  try {
    const file = path.join(dir, 'photo.jpg');
    await writeFile(file, image);
    const out = await new Promise<string>((resolve, reject) => {
      execFile('curl', ['-sS', '--max-time', '60', '-F', `device_id=${deviceId}`, '-F', `image=@${file};type=image/jpeg`, '-w', '\n%{http_code}', `${baseUrl}/image`],
        (err, stdout) => (err ? reject(err) : resolve(String(stdout))));
    });
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)), body: JSON.parse(out.slice(0, cut)) as Record<string, unknown> };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface HeldUpload {
  /** Sends the rest of the body and resolves with the answer. */
  finish(): Promise<Answer>;
  /** Gives up (the connection is destroyed). */
  abandon(): void;
}

/**
 * A device upload held open mid-body: the head and the first half of the image are sent now, the rest on
 * `finish()`. Errors before `finish` are kept and reported by it.
 */
export function heldUpload(port: number, deviceId: string, image: Buffer): HeldUpload {
  const boundary = `held${Date.now()}`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\n${deviceId}\r\n`
    + `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const half = Math.floor(image.length / 2);
  const req = http.request({
    host: '127.0.0.1', port, method: 'POST', path: '/image',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': head.length + image.length + tail.length },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
      res.on('error', reject);
    });
  });
  answer.catch(() => undefined); // reported by finish()
  req.write(Buffer.concat([head, image.subarray(0, half)]));
  return {
    finish() {
      req.end(Buffer.concat([image.subarray(half), tail]));
      return answer;
    },
    abandon() {
      req.destroy();
    },
  };
}

/** Polls GET /readyz until it answers 200; returns the milliseconds it took. */
export async function waitReady(baseUrl: string, timeoutMs: number, logs: () => Promise<string>): Promise<number> {
  const started = Date.now();
  try {
    await waitFor(async () => ((await fetch(`${baseUrl}/readyz`).catch(() => null))?.status === 200 ? true : undefined), timeoutMs, `${baseUrl}/readyz`);
  } catch (err) {
    throw new Error(`${(err as Error).message}\ncontainer logs:\n${(await logs()).slice(-4000)}`);
  }
  return Date.now() - started;
}

/** One gauge or counter of GET /metrics (0 when absent). */
export async function metric(baseUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return sampleValue(parseExposition(text), name) ?? 0;
}

/** GET /images/{id}/status with the admin token. */
export async function imageStatus(baseUrl: string, adminToken: string, id: string): Promise<{ state: string; s3_key: string | null }> {
  const res = await fetch(`${baseUrl}/images/${id}/status`, { headers: { authorization: `Bearer ${adminToken}` } });
  if (res.status !== 200) throw new Error(`GET /images/${id}/status: ${res.status} ${await res.text()}`);
  return (await res.json()) as { state: string; s3_key: string | null };
}

/** The S3 target (s3rver in a container, published on 127.0.0.1). */
export interface S3Target {
  /** The object's SHA-256, or null when there is no such object. */
  sha256(key: string): Promise<string | null>;
  close(): void;
}

export function s3Target(endpoint: string, bucket: string): S3Target {
  const client = new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    async sha256(key) {
      try {
        const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return sha256Hex(await (res.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return null;
        throw err;
      }
    },
    close: () => client.destroy(),
  };
}

/**
 * Waits until every image is uploaded according to the service and its object in S3 holds exactly the
 * acknowledged bytes: the receipt's SHA-256, which callers take from the bytes they posted (and check
 * against the one the service reported), not from the answer alone.
 */
export async function waitUploaded(baseUrl: string, adminToken: string, s3: S3Target, receipts: ReadonlyArray<{ id: string; sha256: string }>, timeoutMs: number): Promise<void> {
  for (const receipt of receipts) {
    const key = await waitFor(async () => {
      const status = await imageStatus(baseUrl, adminToken, receipt.id);
      return status.state === 'uploaded' && status.s3_key ? status.s3_key : undefined;
    }, timeoutMs, `image ${receipt.id} uploaded`);
    const stored = await s3.sha256(key);
    if (stored !== receipt.sha256) throw new Error(`image ${receipt.id}: S3 object ${key} has SHA-256 ${stored}, acknowledged ${receipt.sha256}`);
  }
}
