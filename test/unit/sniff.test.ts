import { describe, expect, it } from 'vitest';
import { acceptedFormat, ANY_BYTES_POLICY, DEFAULT_FORMAT_POLICY } from '../../src/meta/format-policy.js';
import { formatByContentType, sniffImage, STORED_FORMATS } from '../../src/meta/sniff.js';

const pad = (head: number[] | string): Buffer => {
  const b = typeof head === 'string' ? Buffer.from(head, 'latin1') : Buffer.from(head);
  return Buffer.concat([b, Buffer.alloc(32)]);
};
/** A BMP file header and the first bytes of its DIB header (`dib` is the DIB header's size). */
const bmp = (dib: number): Buffer => {
  const b = Buffer.alloc(40);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(70_000, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(dib, 14);
  return b;
};

describe('sniffImage', () => {
  it.each([
    ['jpeg', pad([0xff, 0xd8, 0xff, 0xdb])],
    ['png', pad([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])],
    ['gif', pad('GIF89a')],
    ['gif', pad('GIF87a')],
    ['webp', pad('RIFF\x10\x00\x00\x00WEBPVP8 ')],
    ['tiff', pad('II*\x00')],
    ['tiff', pad('MM\x00*')],
    ['heic', pad('\x00\x00\x00\x18ftypheic')],
    ['heic', pad('\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic')],
    ['avif', pad('\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf')],
    ['avif', pad('\x00\x00\x00\x1cftypavis\x00\x00\x00\x00avismsf1miaf')],
    ['avif', pad('\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf')],
    ['jxl', pad([0xff, 0x0a, 0xfa, 0x1f])],
    ['jxl', pad([0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])],
    ['bmp', bmp(40)],
    ['bmp', bmp(124)],
    ['bmp', bmp(12)],
  ])('recognises %s by its magic bytes', (name, head) => {
    expect(sniffImage(head)?.name).toBe(name);
  });

  it.each([
    ['text', pad('hello world!')],
    ['text starting with BM', pad('BMW 320d, 2019, low mileage')],
    ['BM with a DIB size no BMP has', bmp(41)],
    ['pdf', pad('%PDF-1.7')],
    ['riff wave', pad('RIFF\x10\x00\x00\x00WAVEfmt ')],
    ['mp4', pad('\x00\x00\x00\x18ftypisom')],
    ['empty', Buffer.alloc(0)],
  ])('refuses %s', (_name, head) => {
    expect(sniffImage(head)).toBeNull();
  });

  it('reads compatible brands only inside the ftyp box: an "avif" after a 16-byte box leaves it HEIF', () => {
    expect(sniffImage(pad('\x00\x00\x00\x10ftypmif1\x00\x00\x00\x00avif'))?.name).toBe('heic');
  });

  it('finds every stored format again by its Content-Type', () => {
    for (const f of STORED_FORMATS) expect(formatByContentType(f.contentType)).toBe(f);
    expect(formatByContentType('text/html')).toBeNull();
  });
});

describe('acceptedFormat (IMAGE_FORMATS)', () => {
  it('takes every recognised image by default and refuses other bytes with 415 not_an_image', () => {
    expect(acceptedFormat(bmp(40), DEFAULT_FORMAT_POLICY).contentType).toBe('image/bmp');
    expect(() => acceptedFormat(pad('adsfkjasdfaskjfsadjf'), DEFAULT_FORMAT_POLICY)).toThrow(expect.objectContaining({ code: 'not_an_image', status: 415 }));
  });

  it('refuses a recognised image that the list leaves out, naming it', () => {
    const jpegOnly = { accepted: new Set(['jpeg'] as const), anyBytes: false };
    expect(acceptedFormat(pad([0xff, 0xd8, 0xff]), jpegOnly).name).toBe('jpeg');
    expect(() => acceptedFormat(pad('GIF89a'), jpegOnly)).toThrow(/a GIF image, which IMAGE_FORMATS does not accept.*accepted: jpeg$/);
  });

  it('any: recognised images keep their type, other bytes become application/octet-stream (.bin)', () => {
    expect(acceptedFormat(pad('GIF89a'), ANY_BYTES_POLICY).contentType).toBe('image/gif');
    expect(acceptedFormat(pad('adsfkjasdfaskjfsadjf'), ANY_BYTES_POLICY)).toMatchObject({ name: 'binary', ext: 'bin', contentType: 'application/octet-stream', metadata: false });
    expect(acceptedFormat(Buffer.from('x'), ANY_BYTES_POLICY).name).toBe('binary');
  });
});
