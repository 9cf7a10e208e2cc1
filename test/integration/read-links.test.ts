/**
 * Signed read links (issue 23): the admin endpoint and `image-spool read-link` issue, for one image id, a
 * link that reads its bytes and its record with metadata without the admin token, until it expires and not
 * after; not for another id, not altered, not signed with another key. The signing key is kept in the spool
 * like admin.token (0600).
 */
import { createHmac } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { useInProcessService, waitFor } from '../helpers/in-process.js';

const ADMIN_TOKEN = 'read-links-test-admin-token-0123456789ab';

interface ReadLink { image_id: string; url: string; status_url: string; expires_at: string }
interface ErrorBody { error: { code: string; message: string } }

describe('signed read links', () => {
  const ctx = useInProcessService({ ADMIN_TOKEN, UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
  const photo = exifJpeg({ make: 'Acme', model: 'LinkCam', latitude: 12.3456, longitude: 65.4321, width: 800, height: 600 });
  let id = '';
  let otherId = '';

  const issue = async (imageId: string, body?: unknown): Promise<Response> => fetch(`${ctx.svc.baseUrl}/admin/images/${imageId}/read-link`, {
    method: 'POST', headers: { ...ctx.svc.admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const link = async (imageId: string, expiresIn: string | number): Promise<ReadLink> => {
    const res = await issue(imageId, { expires_in: expiresIn });
    expect(res.status).toBe(201);
    return (await res.json()) as ReadLink;
  };
  /** The link's path and query, for variations of it. */
  const parts = (url: string): { path: string; expires: string; sig: string } => {
    const u = new URL(url);
    return { path: u.pathname, expires: u.searchParams.get('expires') ?? '', sig: u.searchParams.get('sig') ?? '' };
  };
  const get = (url: string): Promise<Response> => fetch(new URL(url, ctx.svc.baseUrl));

  it('reads the bytes and the record with metadata without the admin token', async () => {
    id = (await postImage(ctx.svc.baseUrl, 'cam-cv', photo)).body['id'] as string;
    otherId = (await postImage(ctx.svc.baseUrl, 'cam-cv', fakeJpeg(5000))).body['id'] as string;
    expect((await get(`/images/${id}`)).status).toBe(401); // no credential, no bytes

    const started = Date.now();
    const l = await link(id, '10m');
    expect(l.image_id).toBe(id);
    expect(l.url).toMatch(new RegExp(`^${ctx.svc.baseUrl}/images/${id}\\?expires=\\d{10}&sig=[A-Za-z0-9_-]{43}$`));
    expect(l.status_url).toBe(l.url.replace(`/images/${id}?`, `/images/${id}/status?`));
    expect(Math.abs(Date.parse(l.expires_at) - (started + 600_000))).toBeLessThan(5_000);
    expect(Number(parts(l.url).expires) * 1000).toBe(Date.parse(l.expires_at));

    const bytes = await get(l.url);
    expect(bytes.status).toBe(200);
    expect(Buffer.from(await bytes.arrayBuffer()).equals(photo)).toBe(true);
    const record = await waitFor(async () => {
      const body = (await (await get(l.status_url)).json()) as { metadata: unknown };
      return body.metadata === null ? undefined : body;
    }, 10_000, 'metadata through the link');
    expect(record).toMatchObject({ id, metadata: { camera_model: 'LinkCam', gps: { latitude: 12.3456, longitude: 65.4321 } } });
    expect((await get(`${l.url}`)).headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/);
  });

  it('opens no other image, and nothing once altered, cut short or signed with another key', async () => {
    const l = await link(id, '10m');
    const { expires, sig } = parts(l.url);
    const flip = (s: string, at: number): string => `${s.slice(0, at)}${s[at] === 'A' ? 'B' : 'A'}${s.slice(at + 1)}`;
    const foreignKey = createHmac('sha256', 'another gateway key, 32 characters or more').update(`image-spool read link v1\n${id}\n${expires}`).digest('base64url');
    const refused: Array<[string, string]> = [
      ['another id', `/images/${otherId}?expires=${expires}&sig=${sig}`],
      ['another id, status', `/images/${otherId}/status?expires=${expires}&sig=${sig}`],
      ['a changed signature (first character)', `/images/${id}?expires=${expires}&sig=${flip(sig, 0)}`],
      ['a changed signature (last character)', `/images/${id}?expires=${expires}&sig=${flip(sig, 42)}`],
      ['a later expiry', `/images/${id}?expires=${Number(expires) + 86_400}&sig=${sig}`],
      ['an earlier expiry', `/images/${id}?expires=${Number(expires) - 1}&sig=${sig}`],
      ['no expiry', `/images/${id}?sig=${sig}`],
      ['no signature', `/images/${id}?expires=${expires}`],
      ['a signature cut short', `/images/${id}?expires=${expires}&sig=${sig.slice(0, 42)}`],
      ['another key', `/images/${id}?expires=${expires}&sig=${foreignKey}`],
      ['another key, status', `/images/${id}/status?expires=${expires}&sig=${foreignKey}`],
    ];
    for (const [what, url] of refused) {
      const res = await get(url);
      expect(res.status, what).toBe(403);
      expect(((await res.json()) as ErrorBody).error.code, what).toBe('read_link_invalid');
    }
    // The genuine link still works after all that.
    expect((await get(l.url)).status).toBe(200);
  });

  it('works until it expires and not after', async () => {
    const l = await link(id, 4);
    const expiresMs = Date.parse(l.expires_at);
    const seen: Record<string, number[]> = { [l.url]: [], [l.status_url]: [] };
    // Each answer is judged by the client's clock around it (the server's is the same machine's clock): a
    // 200 must have been asked for before the expiry, a refusal answered at or after it.
    await waitFor(async () => {
      for (const url of [l.url, l.status_url]) {
        const asked = Date.now();
        const res = await get(url);
        const answered = Date.now();
        const body = await res.text();
        seen[url]?.push(res.status);
        if (res.status === 200) expect(asked, url).toBeLessThan(expiresMs);
        else {
          expect(res.status, body).toBe(410);
          expect((JSON.parse(body) as ErrorBody).error.code).toBe('read_link_expired');
          expect(answered, url).toBeGreaterThanOrEqual(expiresMs);
        }
      }
      return Object.values(seen).every((s) => s.at(-1) === 410) ? true : undefined;
    }, 15_000, 'the link to expire');
    for (const statuses of Object.values(seen)) {
      expect(statuses[0]).toBe(200); // it worked before it expired...
      expect(statuses.indexOf(410)).toBe(statuses.lastIndexOf(200) + 1); // ...and never again after
    }
    // An expired link stays expired; the expiry cannot be moved without the key.
    expect((await get(l.url)).status).toBe(410);
    expect((await get(l.url.replace(/expires=\d+/, `expires=${Number(parts(l.url).expires) + 3600}`))).status).toBe(403);
  }, 30_000);

  it('is issued only by the admin, for an image that exists, for 1 second to 30 days (1 hour by default)', async () => {
    const before = Date.now();
    const byDefault = await issue(id);
    expect(byDefault.status).toBe(201);
    expect(Math.abs(Date.parse(((await byDefault.json()) as ReadLink).expires_at) - (before + 3_600_000))).toBeLessThan(5_000);
    const anonymous = await fetch(`${ctx.svc.baseUrl}/admin/images/${id}/read-link`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    const refused: Array<[unknown, number, string, RegExp]> = [
      [{ expires_in: '31d' }, 400, 'invalid_request', /30 days/],
      [{ expires_in: 0 }, 400, 'invalid_request', /expires_in/],
      [{ expires_in: '1h', image: 'x' }, 400, 'invalid_request', /unknown field "image"/],
      ['not an object', 400, 'invalid_request', /expires_in/],
    ];
    for (const [body, status, code, message] of refused) {
      const res = await issue(id, body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      const err = (await res.json()) as ErrorBody;
      expect(err.error.code).toBe(code);
      expect(err.error.message).toMatch(message);
    }
    const unknown = await issue('01M84CWPD0SMD5ZBY79VQQHV2V');
    expect(unknown.status).toBe(404);
    const key = await stat(path.join(ctx.svc.spoolDir, 'read-link.key'));
    expect(key.mode & 0o777).toBe(0o600);
  });

  it('`image-spool read-link ID` prints a link that works, and refuses a bad call', async () => {
    const env = { SPOOL_DIR: ctx.svc.spoolDir, IMAGE_SPOOL_URL: ctx.svc.baseUrl, ADMIN_TOKEN };
    const json = await runCli(['read-link', id, '--expires-in', '15m', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    const l = JSON.parse(json.stdout) as ReadLink;
    expect(l.image_id).toBe(id);
    const bytes = await get(l.url);
    expect(Buffer.from(await bytes.arrayBuffer()).equals(photo)).toBe(true);

    const human = await runCli(['read-link', id], env);
    expect(human.code, human.stderr).toBe(0);
    const url = /^url +(\S+)$/m.exec(human.stdout)?.[1] ?? '';
    expect(url).toMatch(/\/images\/[0-9A-Z]{26}\?expires=\d+&sig=/);
    expect((await get(url)).status).toBe(200);
    expect(human.stdout).toMatch(/^status_url +\S+\/status\?expires=/m);
    expect(human.stdout).toMatch(/^expires_at +\d{4}-/m);

    for (const args of [['read-link'], ['read-link', id, 'extra'], ['read-link', id, '--expires-in']]) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage: image-spool read-link IMAGE_ID/);
    }
    const unknown = await runCli(['read-link', '01M84CWPD0SMD5ZBY79VQQHV2V'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^image-spool: not_found:/);
  });
});
