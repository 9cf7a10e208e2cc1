import type { ImageFormat } from './sniff.js';

export interface Dimensions {
  width: number;
  height: number;
}

/*
 * These functions also run on the metadata threads, whose code is built from their source text
 * (src/meta/thread-source.ts): each may call only the others listed in DIMENSION_FUNCTIONS and globals,
 * never an import or a module-level constant.
 */

/**
 * Width and height from the format's own header, for images without EXIF (most camera JPEGs carry EXIF
 * too, but the frame header is what a decoder uses). Returns null when the header is not in `head`, or when
 * it claims a size no real image has (a PNG's 4294967295 x 4294967295, a GIF's 0 x 0): unknown, not those numbers.
 */
export function headerDimensions(format: ImageFormat['name'], head: Buffer): Dimensions | null {
  return plausibleSize(claimedDimensions(format, head));
}

function claimedDimensions(format: ImageFormat['name'], head: Buffer): Dimensions | null {
  switch (format) {
    case 'jpeg': return jpegFrame(head);
    case 'png': return head.length >= 24 && head.toString('latin1', 12, 16) === 'IHDR' ? { width: head.readUInt32BE(16), height: head.readUInt32BE(20) } : null;
    case 'gif': return head.length >= 10 ? { width: head.readUInt16LE(6), height: head.readUInt16LE(8) } : null;
    case 'webp': return webp(head);
    default: return null; // TIFF and HEIC: from their EXIF/IFD fields
  }
}

/**
 * Both sides 1 to 999,999 pixels (the bound the EXIF size fields get too), else unknown: a size with one
 * side impossible says nothing about the other. The largest real images are panoramas of a few 100,000 px.
 */
function plausibleSize(d: Dimensions | null): Dimensions | null {
  const side = (n: number): boolean => Number.isInteger(n) && n >= 1 && n < 1_000_000;
  return d !== null && side(d.width) && side(d.height) ? d : null;
}

/** Walks JPEG segments to the first SOFn (not DHT/JPG/DAC, which share the marker range). */
function jpegFrame(b: Buffer): Dimensions | null {
  let at = 2;
  while (at + 9 < b.length) {
    if (b[at] !== 0xff) return null;
    const marker = b[at + 1] as number;
    if (marker === 0xff) { at++; continue; }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) { at += 2; continue; }
    const length = b.readUInt16BE(at + 2);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) return { height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
    if (marker === 0xda || marker === 0xd9) return null;
    at += 2 + length;
  }
  return null;
}

function webp(b: Buffer): Dimensions | null {
  if (b.length < 30) return null;
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: (b.readUIntLE(24, 3)) + 1, height: (b.readUIntLE(27, 3)) + 1 };
  return null;
}

/** What a metadata thread needs of this module (see the note above). */
export const DIMENSION_FUNCTIONS: ReadonlyArray<(...args: never[]) => unknown> = [headerDimensions, claimedDimensions, plausibleSize, jpegFrame, webp];
