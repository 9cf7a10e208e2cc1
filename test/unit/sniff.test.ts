import { describe, expect, it } from 'vitest';
import { sniffImage } from '../../src/meta/sniff.js';

const pad = (head: number[] | string): Buffer => {
  const b = typeof head === 'string' ? Buffer.from(head, 'latin1') : Buffer.from(head);
  return Buffer.concat([b, Buffer.alloc(16)]);
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
    ['heic', pad('\x00\x00\x00\x18ftypmif1')],
  ])('recognises %s by its magic bytes', (name, head) => {
    expect(sniffImage(head)?.name).toBe(name);
  });

  it.each([
    ['text', pad('hello world!')],
    ['pdf', pad('%PDF-1.7')],
    ['riff wave', pad('RIFF\x10\x00\x00\x00WAVEfmt ')],
    ['mp4', pad('\x00\x00\x00\x18ftypisom')],
    ['empty', Buffer.alloc(0)],
  ])('refuses %s', (_name, head) => {
    expect(sniffImage(head)).toBeNull();
  });
});
