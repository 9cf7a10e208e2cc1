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

  it('reads of an image (bytes and status) need the admin token or the token of the receipt\'s own device', async () => {
    const s3 = await startTestS3();
    const adminToken = 'device-auth-admin-token-0123456789abcdef';
    const svc = await startInProcess(s3, { DEVICE_AUTH: 'token', ADMIN_TOKEN: adminToken, UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const tokenOf = (device: string): string => /^(isd_[A-Za-z0-9_-]{43})$/m.exec(cli(svc.spoolDir, 'tokens', 'add', device).out)?.[1] as string;
      const a = { Authorization: `Bearer ${tokenOf('cam-a')}` };
      const b = { Authorization: `Bearer ${tokenOf('cam-b')}` };
      const image = fakeJpeg(3000);
      const mine = (await postImage(svc.baseUrl, null, image, 'a.jpg', a)).body['id'] as string;
      // cam-b sends the same bytes: its own receipt, a duplicate of cam-a's.
      const theirs = await postImage(svc.baseUrl, null, image, 'b.jpg', b);
      expect(theirs.body).toMatchObject({ device_id: 'cam-b', duplicate_of: mine });
      const theirsId = theirs.body['id'] as string;

      for (const suffix of ['', '/status']) {
        const get = (id: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`${svc.baseUrl}/images/${id}${suffix}`, { headers });
        expect((await get(mine)).status).toBe(401);
        expect((await get(mine, { Authorization: 'Bearer isd_not-a-real-token' })).status).toBe(401);
        expect((await get(mine, a)).status).toBe(200);
        expect((await get(theirsId, b)).status).toBe(200);
        // Another device's receipt looks like an unknown one, even when it shares the bytes.
        const foreign = await get(theirsId, a);
        expect(foreign.status).toBe(404);
        expect(await foreign.json()).toMatchObject({ error: { code: 'not_found' } });
        expect((await get(mine, b)).status).toBe(404);
        expect((await get(theirsId, { Authorization: `Bearer ${adminToken}` })).status).toBe(200);
      }
      const bytes = await fetch(`${svc.baseUrl}/images/${theirsId}`, { headers: b });
      expect(Buffer.from(await bytes.arrayBuffer()).equals(image)).toBe(true);
    } finally {
      await svc.close();
      await s3.close();
    }
  });
});
