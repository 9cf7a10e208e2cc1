/**
 * The device's side and the checker's side of the nspawn test: images posted with curl and with Node's
 * fetch, their receipts kept, and at the end each receipt's object read back from S3 and hashed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pollUntil } from '../helpers/crash-harness.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import type { TestS3 } from '../helpers/s3.js';

export interface Receipt {
  id: string;
  device_id: string;
  sha256: string;
  bytes: number;
  /** What the device sent, to compare with S3. */
  image: Buffer;
}

export interface UploadStatus {
  id: string;
  state: string;
  s3_key: string | null;
  attempts: number;
}

/** POST /image through curl's multipart (-F), as a shell script on a device would. */
export async function postWithCurl(baseUrl: string, deviceId: string, bytes: number): Promise<Receipt> {
  const image = fakeJpeg(bytes);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'nspawn-post-'));
  try {
    const file = path.join(dir, 'photo.jpg');
    await writeFile(file, image);
    const out = await new Promise<string>((resolve, reject) => {
      execFile('curl', ['-sS', '--fail-with-body', '-F', `device_id=${deviceId}`, '-F', `image=@${file};type=image/jpeg`, `${baseUrl}/image`],
        { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`curl: ${err.message} ${stdout} ${stderr}`)) : resolve(stdout)));
    });
    return receipt(JSON.parse(out) as Record<string, unknown>, image, 202);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** POST /image with Node's fetch (FormData). */
export async function postWithFetch(baseUrl: string, deviceId: string, bytes: number): Promise<Receipt> {
  const image = fakeJpeg(bytes);
  const res = await postImage(baseUrl, deviceId, image);
  return receipt(res.body, image, res.status);
}

function receipt(body: Record<string, unknown>, image: Buffer, status: number): Receipt {
  if (status !== 202 || typeof body['id'] !== 'string') throw new Error(`expected a 202 receipt, got ${status} ${JSON.stringify(body)}`);
  return { id: body['id'], device_id: String(body['device_id']), sha256: String(body['sha256']), bytes: Number(body['bytes']), image };
}

/** GET /images/{id}/status: the upload's outcome (no credential needed with DEVICE_AUTH=off). */
export async function uploadStatus(baseUrl: string, id: string): Promise<UploadStatus> {
  const res = await fetch(`${baseUrl}/images/${id}/status`);
  if (res.status !== 200) throw new Error(`GET /images/${id}/status answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as UploadStatus;
}

/** Waits until every receipt is `uploaded`; fails early when none moved for `stallMs`. */
export async function waitUploaded(baseUrl: string, receipts: readonly Receipt[], timeoutMs: number): Promise<UploadStatus[]> {
  let states: UploadStatus[] = [];
  return pollUntil(async () => {
    states = await Promise.all(receipts.map((r) => uploadStatus(baseUrl, r.id)));
    return states.every((s) => s.state === 'uploaded') ? states : undefined;
  }, {
    timeoutMs, intervalMs: 200, stallMs: Math.min(timeoutMs, 30_000), what: `${receipts.length} uploads`,
    progress: () => states.filter((s) => s.state === 'uploaded').length,
    describe: () => states.map((s) => `${s.id}: ${s.state} (attempts ${s.attempts})`).join(', '),
  });
}

/** Problems found: a receipt whose object is missing, differs from what was sent, or is stored twice. */
export async function checkInS3(s3: TestS3, receipts: readonly Receipt[], statuses: readonly UploadStatus[]): Promise<string[]> {
  const problems: string[] = [];
  const keys = (await s3.listAll()).map((o) => o.Key ?? '');
  for (const r of receipts) {
    const key = statuses.find((s) => s.id === r.id)?.s3_key;
    if (!key) {
      problems.push(`${r.id}: no s3_key`);
      continue;
    }
    const copies = keys.filter((k) => k.includes(r.id)).length;
    if (copies !== 1) problems.push(`${r.id}: ${copies} objects in S3`);
    const stored = await s3.getBytes(key).catch(() => null);
    if (stored === null) problems.push(`${r.id}: no object at ${key}`);
    else if (stored.length !== r.image.length || sha256Hex(stored) !== sha256Hex(r.image)) problems.push(`${r.id}: object at ${key} differs from the bytes sent`);
    if (r.sha256 !== sha256Hex(r.image)) problems.push(`${r.id}: receipt sha256 ${r.sha256} is not that of the bytes sent`);
  }
  return problems;
}
