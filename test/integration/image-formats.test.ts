import { randomBytes } from 'node:crypto';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { useInProcessService, waitFor, type InProcessService } from '../helpers/in-process.js';
import type { TestS3 } from '../helpers/s3.js';

/**
 * IMAGE_FORMATS (issue 18, item 11): AVIF, JPEG XL and BMP are accepted by default besides the formats
 * sniffed before; each is stored, keyed and uploaded with its own extension and Content-Type, and recorded
 * as carrying no metadata without going through the extractor. A list narrows what is accepted.
 */

const withHead = (head: Buffer | string, bytes = 20_000): Buffer => {
  const h = typeof head === 'string' ? Buffer.from(head, 'latin1') : head;
  return Buffer.concat([h, randomBytes(bytes)]);
};
const bmpHead = (): Buffer => {
  const b = Buffer.alloc(54);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(54 + 20_000, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  return b;
};

const FORMATS: Array<[name: string, ext: string, contentType: string, image: () => Buffer]> = [
  ['avif', 'avif', 'image/avif', () => withHead('\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf')],
  ['jxl', 'jxl', 'image/jxl', () => withHead(Buffer.from([0xff, 0x0a]))],
  ['jxl', 'jxl', 'image/jxl', () => withHead(Buffer.from([0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a]))],
  ['bmp', 'bmp', 'image/bmp', () => withHead(bmpHead())],
];

describe('IMAGE_FORMATS unset: AVIF, JPEG XL and BMP too', () => {
  const ctx = useInProcessService({ UPLOAD_BWLIMIT: '20MB', SPOOL_MIN_FREE_BYTES: '0' });
  let s3: TestS3;
  let svc: InProcessService;
  beforeAll(() => {
    ({ s3, svc } = ctx);
  });

  it.each(FORMATS)('%s: 202, uploaded under .%s with its Content-Type, served back, metadata recorded as none', async (name, ext, contentType, make) => {
    const image = make();
    const res = await postImage(svc.baseUrl, 'cam-formats', image, `photo.${ext}`);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ content_type: contentType, sha256: sha256Hex(image) });
    const id = res.body['id'] as string;
    const row = await waitFor(() => {
      const blob = svc.service.ledger.resolve(id)?.blob;
      return blob?.state === 'uploaded' ? blob : undefined;
    }, 15_000, `upload of ${id}`);
    expect(row.s3_key.endsWith(`/${id}.${ext}`)).toBe(true);
    expect((await s3.getBytes(row.s3_key)).equals(image)).toBe(true);
    expect((await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: row.s3_key }))).ContentType).toBe(contentType);

    const status = await waitFor(async () => {
      const s = await (await fetch(`${svc.baseUrl}/images/${id}/status`, { headers: svc.admin })).json() as { metadata: Record<string, unknown> | null };
      return s.metadata === null ? undefined : s;
    }, 5000, 'metadata recorded');
    expect(status.metadata).toMatchObject({ format: name, width: null, height: null, camera_model: null });

    const served = await fetch(`${svc.baseUrl}/images/${id}`, { headers: svc.admin });
    expect(served.headers.get('content-type')).toBe(contentType);
    expect(Buffer.from(await served.arrayBuffer()).equals(image)).toBe(true);
  });

  it('still refuses bytes that are no image: 415 not_an_image, listing what is accepted', async () => {
    const res = await postImage(svc.baseUrl, 'cam-formats', withHead('just some text, not an image at all'), 'notes.txt');
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ error: { code: 'not_an_image' } });
    expect(JSON.stringify(res.body)).toContain('accepted: jpeg, png, webp, gif, tiff, heic, avif, jxl, bmp');
  });
});

describe('IMAGE_FORMATS=jpeg,png', () => {
  const ctx = useInProcessService({ IMAGE_FORMATS: 'jpeg,png', SPOOL_MIN_FREE_BYTES: '0' });

  it('accepts a JPEG and refuses a GIF (a recognised image it does not list) with 415 not_an_image, storing nothing', async () => {
    expect((await postImage(ctx.svc.baseUrl, 'cam-narrow', fakeJpeg(5000))).status).toBe(202);
    const gif = await postImage(ctx.svc.baseUrl, 'cam-narrow', withHead('GIF89a'), 'a.gif');
    expect(gif.status).toBe(415);
    expect(gif.body).toMatchObject({ error: { code: 'not_an_image' } });
    expect(JSON.stringify(gif.body)).toContain('a GIF image, which IMAGE_FORMATS does not accept');
    await waitFor(async () => ((await ctx.svc.files()).every((f) => !f.endsWith('.part')) ? true : undefined), 2000, 'no .part file');
    expect((await ctx.svc.files()).filter((f) => f.endsWith('.gif'))).toEqual([]);
  });
});
