/**
 * `image-spool links create|revoke|list` against the running service: the URL it prints takes uploads,
 * and after `revoke` the same URL answers 410.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { fakeJpeg } from '../helpers/images.js';
import { useInProcessService } from '../helpers/in-process.js';

interface Created { url: string; token_id: string; expires_at: string; max_uploads: number | null; device_id: string | null }

describe('image-spool links', () => {
  const ctx = useInProcessService({ UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
  const env = (): Record<string, string> => ({ SPOOL_DIR: ctx.svc.spoolDir, IMAGE_SPOOL_URL: ctx.svc.baseUrl });

  const upload = async (url: string, image: Buffer, deviceId?: string): Promise<{ status: number; body: unknown }> => {
    const form = new FormData();
    if (deviceId !== undefined) form.append('device_id', deviceId);
    form.append('image', new Blob([image]), 'a.jpg');
    const res = await fetch(url, { method: 'POST', body: form });
    return { status: res.status, body: await res.json() };
  };

  it('creates a link whose URL takes uploads, lists it, and revokes it: the URL then answers 410', async () => {
    const started = Date.now();
    const r = await runCli(['links', 'create', '--expires-in', '1h', '--max-uploads', '5', '--device-id', 'kiosk-1', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const link = JSON.parse(r.stdout) as Created;
    expect(link).toMatchObject({ token_id: expect.stringMatching(/^[0-9a-f]{12}$/), max_uploads: 5, device_id: 'kiosk-1' });
    expect(link.url).toMatch(new RegExp(`^${ctx.svc.baseUrl}/u/[A-Za-z0-9_-]{43}$`));
    expect(Math.abs(Date.parse(link.expires_at) - (started + 3_600_000))).toBeLessThan(60_000);

    const first = await upload(link.url, fakeJpeg(5000));
    expect(first.status).toBe(202);
    expect(first.body).toEqual([expect.objectContaining({ device_id: 'kiosk-1', status: 'queued' })]);

    const listed = await runCli(['links', 'list', '--json'], env());
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ token_id: link.token_id, uploads_used: 1, state: 'active' }));
    expect(listed.stdout).not.toContain(new URL(link.url).pathname.slice(3)); // never the secret

    const revoked = await runCli(['links', 'revoke', link.token_id], env());
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`revoked ${link.token_id} (1 uploads used)\n`);
    const after = await upload(link.url, fakeJpeg(5000));
    expect(after.status).toBe(410);
    expect(after.body).toMatchObject({ error: { code: 'link_revoked' } });
  });

  it('prints url, token_id and expires_at for people, 48 hours by default', async () => {
    const started = Date.now();
    const r = await runCli(['links', 'create'], env());
    expect(r.code, r.stderr).toBe(0);
    const field = (name: string): string => new RegExp(`^${name} +(\\S+)$`, 'm').exec(r.stdout)?.[1] ?? '';
    expect(field('url')).toMatch(/\/u\/[A-Za-z0-9_-]{43}$/);
    expect(field('token_id')).toMatch(/^[0-9a-f]{12}$/);
    expect(Math.abs(Date.parse(field('expires_at')) - (started + 48 * 3_600_000))).toBeLessThan(60_000);
    expect(r.stdout).toMatch(/^max_uploads +no limit$/m);
    expect((await upload(field('url'), fakeJpeg(6000), 'visitor-1')).status).toBe(202); // no --device-id: the form names it
  });

  it('reports mistakes: bad options are usage errors (2), the service\'s refusals exit 1 with its code', async () => {
    for (const args of [['links'], ['links', 'frob'], ['links', 'revoke'], ['links', 'create', '--max-uploads', 'zero'], ['links', 'create', '--expires'], ['links', 'create', '--device-id']]) {
      const r = await runCli(args, env());
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/usage: image-spool links create/);
    }
    const unknown = await runCli(['links', 'revoke', '000000000000'], env());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^image-spool: not_found:/);
    const tooLong = await runCli(['links', 'create', '--expires-in', '90d'], env());
    expect(tooLong.code).toBe(1);
    expect(tooLong.stderr).toMatch(/^image-spool: invalid_request: expires_in must be between/);
    const down = await runCli(['links', 'create'], { ...env(), IMAGE_SPOOL_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^image-spool: service_unreachable:/);
  });
});
