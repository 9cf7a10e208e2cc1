/**
 * Upload links without HTTP: duration parsing, path redaction, and the quota arithmetic (reservations by
 * concurrent requests, the commit's re-check, revocation in the middle of a request) on a real ledger.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { z } from '@hono/zod-openapi';
import { Duration, durationSeconds, LinkRequest } from '../../src/api/schemas/links.js';
import { requestError } from '../../src/api/validate.js';
import { isSpoolError } from '../../src/errors.js';
import { ImageLedger } from '../../src/ledger/images.js';
import type { Db } from '../../src/ledger/open.js';
import type { NewImage } from '../../src/ledger/types.js';
import { LinkLedger } from '../../src/links/ledger.js';
import { UploadLinks } from '../../src/links/links.js';
import { redactPath } from '../../src/links/redact.js';
import { hashesMatch, secretHash } from '../../src/links/secret.js';
import { tempLedger, type TempLedger } from '../helpers/ledger.js';

let n = 0;
function newImage(deviceId = 'cam-1'): NewImage {
  const id = `IMG${String(++n).padStart(23, '0')}`;
  return { id, device_id: deviceId, sha256: createHash('sha256').update(id).digest('hex'), bytes: 10, content_type: 'image/jpeg', path: `images/${id}.jpg`, s3_key: `${deviceId}/${id}.jpg`, received_at: new Date().toISOString() };
}

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return isSpoolError(err) ? err.code : `not a SpoolError: ${String(err)}`;
  }
  return 'no error';
};

/** What the API answers for `value` checked by `schema`: the parsed value, or the refusal's code. */
function check(schema: z.ZodType, value: unknown): { ok: unknown } | { code: string; message: string } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: result.data };
  const err = requestError(result.error, schema);
  return { code: err.code, message: err.message };
}

describe('expires_in', () => {
  it.each([
    ['90s', 90], ['30m', 1800], ['48h', 172_800], ['7d', 604_800], ['30d', 2_592_000], [3600, 3600], ['3600', 3600], [' 5 M ', 300],
  ])('%j is %d s', (value, seconds) => {
    expect(check(Duration, value)).toEqual({ ok: value });
    expect(durationSeconds(value)).toBe(seconds);
  });

  it.each([[0], ['0s'], [-1], [1.5], ['31d'], [2_592_001], ['1w'], ['h'], [''], [null], [true], [{}], ['1e3']])('%j is refused', (value) => {
    expect(check(LinkRequest, { expires_in: value })).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^expires_in must be /) });
  });

  it('a link request is strict about its fields', () => {
    expect(check(LinkRequest, { expires_in: '1h' })).toEqual({ ok: { expires_in: '1h' } });
    expect(check(LinkRequest, { expires_in: 60, max_uploads: 10_000, device_id: 'cam.1_a-b' })).toEqual({ ok: { expires_in: 60, max_uploads: 10_000, device_id: 'cam.1_a-b' } });
    expect(check(LinkRequest, { expires_in: '1h', extra: 1 })).toEqual({ code: 'invalid_request', message: 'unknown field "extra"; expected expires_in, max_uploads, device_id' });
    expect(check(LinkRequest, [])).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^expected a JSON object/) });
    expect(check(LinkRequest, { expires_in: '1h', device_id: 'x'.repeat(65) })).toMatchObject({ code: 'invalid_device_id', message: expect.stringMatching(/^device_id must match/) });
    expect(check(LinkRequest, { expires_in: '1h', max_uploads: 0 })).toMatchObject({ code: 'invalid_request', message: 'max_uploads must be a whole number from 1 to 10000 (or absent for no limit), got 0' });
  });
});

describe('redactPath', () => {
  it.each([
    ['/u/abcDEF123_-', '/u/[redacted]'],
    ['/u/abc/def', '/u/[redacted]/def'],
    ['//u//abc', '//u//[redacted]'],
    ['/U/abc', '/U/[redacted]'],
    ['/u/', '/u/[redacted]'],
    ['/image', '/image'],
    ['/images/u/abc', '/images/u/abc'],
    ['/admin/links/0123456789ab', '/admin/links/0123456789ab'],
  ])('%s -> %s', (input, output) => expect(redactPath(input)).toBe(output));
});

describe('hashesMatch', () => {
  it('compares digests, and never matches a malformed one', () => {
    const h = secretHash('a');
    expect(hashesMatch(h, secretHash('a'))).toBe(true);
    expect(hashesMatch(h, secretHash('b'))).toBe(false);
    expect(hashesMatch(h.slice(0, 62), h.slice(0, 62))).toBe(false);
    expect(hashesMatch('', '')).toBe(false);
  });
});

describe('UploadLinks on a ledger', () => {
  let temp: TempLedger;
  let db: Db;
  let links: UploadLinks;
  let now: number;

  beforeEach(() => {
    temp = tempLedger('links-');
    db = temp.db;
    now = Date.parse('2026-01-01T00:00:00Z');
    links = new UploadLinks(new LinkLedger(db, new ImageLedger(db)), () => now);
  });
  afterEach(() => temp.remove());

  it('opens a link by its secret only; unknown and malformed secrets are not_found', () => {
    const { secret, link } = links.create({ expiresInSeconds: 60, maxUploads: null, deviceId: 'kiosk' });
    expect(links.open(secret)).toMatchObject({ tokenId: link.token_id, deviceId: 'kiosk' });
    expect(code(() => links.open(`${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`))).toBe('not_found');
    expect(code(() => links.open(link.token_id))).toBe('not_found');
    expect(code(() => links.open(''))).toBe('not_found');
    expect(code(() => links.open(secretHash(secret)))).toBe('not_found');
  });

  it('expires at expires_at exactly', () => {
    const { secret } = links.create({ expiresInSeconds: 60, maxUploads: null, deviceId: null });
    now += 59_999;
    expect(code(() => links.open(secret))).toBe('no error');
    now += 1;
    expect(code(() => links.open(secret))).toBe('link_expired');
  });

  it('reservations by concurrent requests never exceed max_uploads; released ones are available again', () => {
    const { secret, link } = links.create({ expiresInSeconds: 60, maxUploads: 3, deviceId: null });
    const a = links.open(secret);
    const b = links.open(secret);
    a.reserve();
    a.reserve();
    b.reserve();
    expect(code(() => b.reserve())).toBe('link_quota_exceeded');
    expect(code(() => a.reserve())).toBe('link_quota_exceeded');
    b.release();
    b.release(); // twice is harmless
    a.reserve(); // b's part is free again
    expect(code(() => links.open(secret).reserve())).toBe('link_quota_exceeded');
    expect(a.commit([newImage(), newImage(), newImage()]).map((r) => r.kind)).toEqual(['inserted', 'inserted', 'inserted']);
    a.release();
    expect(links.list()[0]).toMatchObject({ token_id: link.token_id, uploads_used: 3, state: 'used_up' });
    expect(code(() => links.open(secret))).toBe('link_used_up');
  });

  it('the commit re-checks the count and rolls back every row when it would pass max_uploads', () => {
    const { secret } = links.create({ expiresInSeconds: 60, maxUploads: 2, deviceId: null });
    const use = links.open(secret);
    expect(code(() => use.commit([newImage(), newImage(), newImage()]))).toBe('link_quota_exceeded');
    expect(db.prepare('SELECT count(*) AS n FROM images').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT uploads_used FROM upload_links').get()).toEqual({ uploads_used: 0 });
    // A resend (same device, same bytes) is answered, not stored, and not counted.
    const first = newImage();
    expect(use.commit([first]).map((r) => r.kind)).toEqual(['inserted']);
    expect(use.commit([{ ...newImage(), sha256: first.sha256 }]).map((r) => r.kind)).toEqual(['resend']);
    expect(db.prepare('SELECT uploads_used FROM upload_links').get()).toEqual({ uploads_used: 1 });
    expect(db.prepare('SELECT image_id FROM upload_link_images').all()).toEqual([{ image_id: first.id }]);
  });

  it('revocation: a request in progress cannot reserve or commit; revoking is idempotent; unknown ids are not_found', () => {
    const { secret, link } = links.create({ expiresInSeconds: 60, maxUploads: null, deviceId: null });
    const use = links.open(secret);
    use.reserve();
    const revoked = links.revoke(link.token_id);
    expect(revoked).toMatchObject({ revoked: true, state: 'revoked' });
    now += 1000;
    expect(links.revoke(link.token_id).revoked_at).toBe(revoked.revoked_at);
    expect(code(() => use.reserve())).toBe('link_revoked');
    expect(code(() => use.commit([newImage()]))).toBe('link_revoked');
    expect(db.prepare('SELECT count(*) AS n FROM images').get()).toEqual({ n: 0 });
    expect(code(() => links.open(secret))).toBe('link_revoked');
    expect(code(() => links.revoke('0123456789ab'))).toBe('not_found');
    expect(code(() => links.revoke("' OR 1=1 --"))).toBe('not_found');
  });

  it('the table keeps the hash, and the database refuses a count over the limit by itself', () => {
    const { secret, link } = links.create({ expiresInSeconds: 60, maxUploads: 1, deviceId: null });
    const row = db.prepare('SELECT * FROM upload_links').get() as Record<string, unknown>;
    expect(row['secret_sha256']).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(Object.values(row)).not.toContain(secret);
    expect(() => db.prepare('UPDATE upload_links SET uploads_used = 2 WHERE token_id = ?').run(link.token_id)).toThrow(/CHECK/);
  });
});
