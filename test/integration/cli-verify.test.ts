/**
 * `image-spool verify` compares the ledger with a real bucket (s3rver) while the service runs. Clean: exit 0.
 * Then the bucket is damaged behind the service's back, and verify must report exactly that damage:
 * HEAD sees what metadata and length reveal; --deep hashes the bytes and also sees an object rewritten in
 * place with its old metadata (the test server does not check checksums, so HEAD cannot).
 */
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLedger } from '../../src/ledger/open.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';

interface Row { id: string; s3_key: string; bytes: number; sha256: string; content_type: string }

describe('image-spool verify', () => {
  let s3: TestS3;
  let svc: InProcessService;
  let env: Record<string, string>;
  let rows: Row[];

  beforeAll(async () => {
    s3 = await startTestS3();
    svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '100MB', UPLOAD_PART_SIZE: '5MiB', SPOOL_MIN_FREE_BYTES: '0' });
    env = { ...s3Env(s3), SPOOL_DIR: svc.spoolDir };
    // Five small images and one above UPLOAD_PART_SIZE (a multipart upload: composite checksum, metadata from CreateMultipartUpload).
    for (const bytes of [3000, 4000, 5000, 6000, 7000, 6 * 2 ** 20]) expect((await postImage(svc.baseUrl, 'cam-v', fakeJpeg(bytes))).status).toBe(202);
    await waitFor(() => (svc.service.ledger.summary().uploaded === 6 ? true : undefined), 30_000, 'six uploads');
    const db = openLedger(path.join(svc.spoolDir, 'ledger.db'), { readonly: true });
    rows = db.prepare(`SELECT id, s3_key, bytes, sha256, content_type FROM images WHERE state = 'uploaded' ORDER BY bytes`).all() as Row[];
    db.close();
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
    await s3?.close();
  });

  const verify = async (...args: string[]): Promise<{ code: number; findings: Array<Record<string, unknown>>; summary: Record<string, unknown>; stderr: string }> => {
    const r = await runCli(['verify', '--json', ...args], env);
    const lines = jsonLines(r.stdout);
    const summary = lines.at(-1)?.['summary'] as Record<string, unknown>;
    expect(summary, r.stderr).toBeDefined();
    const findings = lines.slice(0, -1).sort((a, b) => String(a['id']).localeCompare(String(b['id'])));
    return { code: r.code, findings, summary, stderr: r.stderr };
  };
  const sortById = <T extends { id: string }>(list: T[]): T[] => [...list].sort((a, b) => a.id.localeCompare(b.id));

  it('finds a clean bucket clean (HEAD and deep), exit 0', async () => {
    expect(rows).toHaveLength(6);
    for (const deep of [[], ['--deep']]) {
      const r = await verify(...deep);
      expect(r.code, r.stderr).toBe(0);
      expect(r.findings).toEqual([]);
      expect(r.summary).toMatchObject({ checked: 6, ok: 6, missing: 0, size_mismatch: 0, checksum_mismatch: 0, checksum_missing: 0, error: 0, deep: deep.length > 0 });
    }
    const human = await runCli(['verify'], env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^verified 6 uploaded images against s3:\/\/images .*6 ok, 0 missing.*: clean$/m);
  });

  it('reports a deleted object and one rewritten in place with other bytes of the same length', async () => {
    const [a, b] = rows as [Row, Row];
    await s3.client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: a.s3_key }));
    const other = fakeJpeg(b.bytes);
    expect(other.length).toBe(b.bytes);
    // The rewrite keeps the old metadata: only the bytes tell.
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: b.s3_key, Body: other, ContentType: b.content_type, Metadata: { sha256: b.sha256 } }));

    const head = await verify();
    expect(head.code).toBe(1);
    expect(head.findings).toEqual([{ id: a.id, s3_key: a.s3_key, kind: 'missing' }]);
    expect(head.summary).toMatchObject({ checked: 6, ok: 5, missing: 1 });

    const deep = await verify('--deep');
    expect(deep.code).toBe(1);
    expect(deep.findings).toEqual(sortById([
      { id: a.id, s3_key: a.s3_key, kind: 'missing' },
      { id: b.id, s3_key: b.s3_key, kind: 'checksum_mismatch', expected_sha256: b.sha256, actual_sha256: sha256Hex(other), from: 'body' },
    ]));
    expect(deep.summary).toMatchObject({ checked: 6, ok: 4, missing: 1, checksum_mismatch: 1, size_mismatch: 0 });

    const human = await runCli(['verify', '--deep'], env);
    expect(human.code).toBe(1);
    const lines = human.stdout.trim().split('\n');
    expect(lines.slice(0, -1).sort()).toEqual([
      expect.stringMatching(new RegExp(`^checksum_mismatch +${b.id} +s3://images/${escape(b.s3_key)} +ledger sha256 ${b.sha256}, object \\(body\\) [0-9a-f]{64}$`)),
      expect.stringMatching(new RegExp(`^missing +${a.id} +s3://images/${escape(a.s3_key)}$`)),
    ]);
    expect(lines.at(-1)).toMatch(/1 missing, 0 size mismatches, 1 checksum mismatches, .*: DIFFERENCES FOUND$/);
  });

  it('reports a truncated object in both modes, and one without our checksum only without --deep', async () => {
    const [a, b, c, d] = rows as [Row, Row, Row, Row];
    const original = await s3.getBytes(d.s3_key);
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: c.s3_key, Body: fakeJpeg(c.bytes - 10), Metadata: { sha256: c.sha256 } }));
    await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: d.s3_key, Body: original })); // right bytes, no metadata

    const head = await verify();
    expect(head.code).toBe(1);
    expect(head.findings).toEqual(sortById([
      { id: a.id, s3_key: a.s3_key, kind: 'missing' },
      { id: c.id, s3_key: c.s3_key, kind: 'size_mismatch', expected_bytes: c.bytes, actual_bytes: c.bytes - 10 },
      { id: d.id, s3_key: d.s3_key, kind: 'checksum_missing' },
    ]));
    const deep = await verify('--deep');
    expect(deep.findings.map((f) => [f['id'], f['kind']])).toEqual(sortById([
      { id: a.id, kind: 'missing' }, { id: b.id, kind: 'checksum_mismatch' }, { id: c.id, kind: 'size_mismatch' },
    ]).map((f) => [f.id, f.kind]));
    expect(deep.summary).toMatchObject({ checked: 6, ok: 3 });
  });

  it('--limit and --since narrow the rows; bad values and an unreachable bucket are usage/config errors (2)', async () => {
    expect((await verify('--limit', '2')).summary).toMatchObject({ checked: 2 });
    const future = await verify('--since', '2999-01-01');
    expect(future.code).toBe(0);
    expect(future.summary).toMatchObject({ checked: 0 });
    expect((await verify('--since', '2000-01-01T00:00:00Z')).summary).toMatchObject({ checked: 6 });
    for (const args of [['--since', 'yesterday'], ['--limit', '0'], ['--limit'], ['--deep=yes'], ['extra']]) {
      const r = await runCli(['verify', ...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage: image-spool verify/);
    }
    const noBucket = await runCli(['verify'], { ...env, S3_ENDPOINT: 'http://127.0.0.1:9' });
    expect(noBucket.code).toBe(2);
    expect(noBucket.stderr).toMatch(/^image-spool: config_invalid: cannot reach S3_BUCKET=images at S3_ENDPOINT=http:\/\/127\.0\.0\.1:9\/?/m);
    const noLedger = await runCli(['verify'], { ...env, SPOOL_DIR: path.join(svc.spoolDir, 'nope') });
    expect(noLedger.code).toBe(2);
    expect(noLedger.stderr).toMatch(/no ledger at .*nope.*SPOOL_DIR/);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
