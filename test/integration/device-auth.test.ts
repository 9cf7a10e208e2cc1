/**
 * DEVICE_AUTH=token: POST /image needs the device's bearer token; the device id comes from the token, and a
 * token for device A cannot upload as device B. Tokens are made and revoked with the CLI, stored hashed.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';
import { CLI } from '../helpers/service-process.js';

function cli(spoolDir: string, ...args: string[]): { code: number | null; out: string } {
  // Only the ledger file is touched (no HTTP to the in-process service), so a synchronous child is safe here.
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env['PATH'] ?? '', SPOOL_DIR: spoolDir, S3_BUCKET: 'images' }, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('DEVICE_AUTH=token', () => {
  it('accepts only the device\'s own token, takes the device id from it, and stops a revoked token', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { DEVICE_AUTH: 'token', UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const added = cli(svc.spoolDir, 'tokens', 'add', 'cam-a');
      expect(added.code).toBe(0);
      const token = /^(isd_[A-Za-z0-9_-]{43})$/m.exec(added.out)?.[1] as string;
      const tokenId = /token_id ([0-9a-f]{12})/.exec(added.out)?.[1] as string;
      expect(token).toBeDefined();
      const auth = { Authorization: `Bearer ${token}` };

      const anonymous = await postImage(svc.baseUrl, 'cam-a', fakeJpeg(2000));
      expect(anonymous).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await postImage(svc.baseUrl, 'cam-a', fakeJpeg(2000), 'a.jpg', { Authorization: 'Bearer isd_not-a-real-token' })).status).toBe(401);

      const implicit = await postImage(svc.baseUrl, null, fakeJpeg(2000), 'a.jpg', auth);
      expect(implicit).toMatchObject({ status: 202, body: { device_id: 'cam-a' } });
      expect((await postImage(svc.baseUrl, 'cam-a', fakeJpeg(2000), 'a.jpg', auth)).status).toBe(202);
      const other = await postImage(svc.baseUrl, 'cam-b', fakeJpeg(2000), 'a.jpg', auth);
      expect(other).toMatchObject({ status: 403, body: { error: { code: 'device_mismatch' } } });

      const listed = cli(svc.spoolDir, 'tokens', 'list', '--json');
      expect(JSON.parse(listed.out)).toEqual([expect.objectContaining({ token_id: tokenId, device_id: 'cam-a', revoked_at: null })]);
      expect(listed.out).not.toContain(token);
      const db = new Database(path.join(svc.spoolDir, 'ledger.db'), { readonly: true });
      try {
        expect(JSON.stringify(db.prepare('SELECT * FROM device_tokens').all())).not.toContain(token.slice(4));
      } finally {
        db.close();
      }

      expect(cli(svc.spoolDir, 'tokens', 'revoke', tokenId).code).toBe(0);
      expect((await postImage(svc.baseUrl, null, fakeJpeg(2000), 'a.jpg', auth)).status).toBe(401);
      const rows = svc.service.ledger.summary();
      expect(rows.queued + rows.uploading + rows.uploaded).toBe(2);
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 30_000);
});
