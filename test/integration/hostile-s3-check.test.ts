import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import type { HonestReceipt } from '../../bench/hostile/honest-cameras.js';
import { verifyReceipts } from '../../bench/hostile/s3-check.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const bytesOf = (id: string): Buffer => Buffer.from(`image ${id}`);
const keyOf = (device: string, id: string): string => `${device}/2026/01/01/${id}.jpg`;

// The hostile soak's verdict "every honest receipt in S3 exactly once" is only believed if the check can see
// each way it could be wrong, and still lists correctly past 1,000 objects (a 10-minute soak holds ~3,000).
describe('hostile soak: the S3 check of honest receipts', () => {
  let s3: TestS3 | undefined;
  afterEach(async () => {
    await s3?.close();
  });

  it('counts exactly-once, missing, duplicated, photo-twice, wrong-byte and stray objects over more than 1,000 keys', async () => {
    s3 = await startTestS3();
    const { client, bucket } = s3;
    const put = (key: string, body: Buffer): Promise<unknown> => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const receipt = (id: string, over: Partial<HonestReceipt> = {}): HonestReceipt => {
      const digest = sha(bytesOf(id));
      return { id, deviceId: 'honest-00', sha256: digest, receiptSha256: digest, bytes: bytesOf(id).length, ...over };
    };
    const receipts = new Map<string, HonestReceipt>();
    const good = Array.from({ length: 1002 }, (_, i) => `good${String(i).padStart(5, '0')}`);
    for (const id of good) receipts.set(id, receipt(id));
    for (let i = 0; i < good.length; i += 25) {
      await Promise.all(good.slice(i, i + 25).map((id) => put(keyOf('honest-00', id), bytesOf(id))));
    }
    receipts.set('missing', receipt('missing'));
    receipts.set('twice', receipt('twice'));
    await put(keyOf('honest-00', 'twice'), bytesOf('twice'));
    await put(keyOf('honest-01', 'twice'), bytesOf('twice'));
    receipts.set('otherbytes', receipt('otherbytes'));
    await put(keyOf('honest-00', 'otherbytes'), Buffer.from('not what the camera sent'));
    receipts.set('receiptsays', receipt('receiptsays', { receiptSha256: sha(Buffer.from('x')) }));
    await put(keyOf('honest-00', 'receiptsays'), bytesOf('receiptsays'));
    // A resend stored again under a new id: each receipt has its object, but the photo is in S3 twice.
    receipts.set('resent', receipt('resent', { sha256: sha(bytesOf('good00000')), receiptSha256: sha(bytesOf('good00000')) }));
    await put(keyOf('honest-00', 'resent'), bytesOf('good00000'));
    await put(keyOf('honest-02', 'stray'), Buffer.from('no receipt names me'));
    await put(keyOf('json-0', 'hostile'), Buffer.from('not under an honest device'));

    const verdict = await verifyReceipts({ port: s3.port, bucket }, 'honest-', receipts);

    expect(verdict).toEqual({ receipts: 1007, exactlyOnce: 1003, missing: 1, duplicated: 1, photoTwice: 1, wrongBytes: 2, stray: 1 });
  }, 120_000);
});
