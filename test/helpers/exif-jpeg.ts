/**
 * Builds small but real JPEGs with an EXIF block (APP1, little-endian TIFF): camera make and model,
 * orientation, capture time with offset, GPS. No image tool is guaranteed on CI machines, so the metadata
 * tests make their own fixtures.
 */
import { randomBytes } from 'node:crypto';

interface Entry {
  tag: number;
  type: 2 | 3 | 4 | 5;
  count: number;
  data: Buffer;
}

const ascii = (tag: number, text: string): Entry => {
  const data = Buffer.from(`${text}\0`, 'latin1');
  return { tag, type: 2, count: data.length, data };
};
const short = (tag: number, value: number): Entry => {
  const data = Buffer.alloc(2);
  data.writeUInt16LE(value);
  return { tag, type: 3, count: 1, data };
};
const long = (tag: number, value: number): Entry => {
  const data = Buffer.alloc(4);
  data.writeUInt32LE(value);
  return { tag, type: 4, count: 1, data };
};
const rationals = (tag: number, values: Array<[number, number]>): Entry => {
  const data = Buffer.alloc(8 * values.length);
  values.forEach(([n, d], i) => {
    data.writeUInt32LE(n, i * 8);
    data.writeUInt32LE(d, i * 8 + 4);
  });
  return { tag, type: 5, count: values.length, data };
};

const ifdSize = (n: number): number => 2 + 12 * n + 4;

/** Lays out IFD0, the Exif IFD and the GPS IFD one after another, then their out-of-line values. */
function tiff(ifd0: Entry[], exif: Entry[], gps: Entry[]): Buffer {
  const exifAt = 8 + ifdSize(ifd0.length + 2);
  const gpsAt = exifAt + ifdSize(exif.length);
  const first = [...ifd0, long(0x8769, exifAt), long(0x8825, gpsAt)].sort((a, b) => a.tag - b.tag);
  const ifds = [first, [...exif].sort((a, b) => a.tag - b.tag), [...gps].sort((a, b) => a.tag - b.tag)];
  let dataAt = gpsAt + ifdSize(gps.length);
  const blocks: Buffer[] = [Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00])];
  const extra: Buffer[] = [];
  for (const entries of ifds) {
    const block = Buffer.alloc(ifdSize(entries.length));
    block.writeUInt16LE(entries.length, 0);
    entries.forEach((e, i) => {
      const at = 2 + 12 * i;
      block.writeUInt16LE(e.tag, at);
      block.writeUInt16LE(e.type, at + 2);
      block.writeUInt32LE(e.count, at + 4);
      if (e.data.length <= 4) e.data.copy(block, at + 8);
      else {
        block.writeUInt32LE(dataAt, at + 8);
        const padded = e.data.length % 2 ? Buffer.concat([e.data, Buffer.alloc(1)]) : e.data;
        extra.push(padded);
        dataAt += padded.length;
      }
    });
    blocks.push(block);
  }
  return Buffer.concat([...blocks, ...extra]);
}

function segment(marker: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0xff00 | marker, 0);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/** A baseline SOF0 header: what a decoder (and our dimension reader) takes the size from. */
function sof0(width: number, height: number): Buffer {
  const p = Buffer.alloc(15);
  p.writeUInt8(8, 0);
  p.writeUInt16BE(height, 1);
  p.writeUInt16BE(width, 3);
  p.writeUInt8(3, 5);
  for (let c = 0; c < 3; c++) p.set([c + 1, 0x11, 0], 6 + c * 3);
  return segment(0xc0, p);
}

export interface ExifJpegOptions {
  make?: string;
  model?: string;
  orientation?: number;
  /** As written in EXIF: "YYYY:MM:DD HH:MM:SS". */
  dateTimeOriginal?: string;
  /** e.g. "+02:00". */
  offsetTimeOriginal?: string;
  /** Signed decimal degrees. */
  latitude?: number;
  longitude?: number;
  width?: number;
  height?: number;
  /** Random bytes after the headers, so images differ and have a realistic size. */
  padding?: number;
}

const dms = (deg: number): Array<[number, number]> => {
  const a = Math.abs(deg);
  const d = Math.floor(a);
  const m = Math.floor((a - d) * 60);
  const s = Math.round(((a - d) * 60 - m) * 60 * 10000);
  return [[d, 1], [m, 1], [s, 10000]];
};

export function exifJpeg(o: ExifJpegOptions = {}): Buffer {
  const ifd0: Entry[] = [];
  if (o.make) ifd0.push(ascii(0x010f, o.make));
  if (o.model) ifd0.push(ascii(0x0110, o.model));
  if (o.orientation) ifd0.push(short(0x0112, o.orientation));
  const exif: Entry[] = [];
  if (o.dateTimeOriginal) exif.push(ascii(0x9003, o.dateTimeOriginal));
  if (o.offsetTimeOriginal) exif.push(ascii(0x9011, o.offsetTimeOriginal));
  const gps: Entry[] = [];
  if (o.latitude !== undefined && o.longitude !== undefined) {
    gps.push(ascii(0x0001, o.latitude >= 0 ? 'N' : 'S'), rationals(0x0002, dms(o.latitude)));
    gps.push(ascii(0x0003, o.longitude >= 0 ? 'E' : 'W'), rationals(0x0004, dms(o.longitude)));
  }
  const app1 = segment(0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff(ifd0, exif, gps)]));
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]), app1, sof0(o.width ?? 640, o.height ?? 480),
    segment(0xda, Buffer.from([1, 1, 0, 0, 0x3f, 0])), randomBytes(o.padding ?? 2000), Buffer.from([0xff, 0xd9]),
  ]);
}

/** A minimal PNG header (signature + IHDR) followed by random bytes: enough for format and size. */
export function pngWithSize(width: number, height: number, padding = 2000): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'latin1');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.set([8, 6, 0, 0, 0], 16);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, randomBytes(padding)]);
}
