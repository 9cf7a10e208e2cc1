/**
 * Hostile images that pass the magic-byte check and attack the metadata parser (issue 18, items 2 and 3).
 * Each is tiny and deterministic, so the regression tests and the hostile-input soak (bench) send the same
 * bytes. Call with a `salt` to get distinct bytes per call (a device resending identical bytes is a resend,
 * not a new image): it changes only bytes that no parser reads.
 */

/**
 * 96 bytes: an `ftyp heic` box naming `heic` among its compatible brands, then a box of length 0. exifr's
 * HEIF parser looks for the `meta` box by adding each box's length to the offset: 0 keeps it on the same
 * box forever, in a loop of awaits that never yields to the event loop.
 */
export function heicZeroLengthBox(salt = 0): Buffer {
  const b = Buffer.alloc(96);
  b.writeUInt32BE(24, 0); // ftyp box: 24 bytes
  b.write('ftypheic', 4, 'latin1'); // major brand heic (what the gateway's sniffer reads)
  b.writeUInt32BE(0, 12); // minor version
  b.write('mif1heic', 16, 'latin1'); // compatible brands (what exifr reads)
  b.writeUInt32BE(0, 24); // the next box: length 0 ...
  b.write('free', 28, 'latin1'); // ... and not `meta`
  b.writeUInt32BE(salt >>> 0, 92); // never read: the parser never gets past offset 24
  return b;
}

export interface TagBombOptions {
  /** IFD0 entries, each a distinct tag id (so a parser keeps every decoded value). */
  tags: number;
  /** Bytes every entry's ASCII value spans, all entries the same bytes. */
  valueBytes: number;
  /** Total TIFF size; the value overlaps the entries to fit. */
  tiffBytes: number;
}

/**
 * A TIFF structure whose IFD0 holds `tags` ASCII entries that all point at the same `valueBytes` (which
 * overlap the entries themselves). A parser that decodes every tag builds `tags` strings of `valueBytes`
 * characters (UTF-16 where the bytes are not valid UTF-8): gigabytes from a few hundred KiB.
 */
function tagBombTiff(o: TagBombOptions, salt: number): Buffer {
  const ifdEnd = 8 + 2 + 12 * o.tags + 4;
  if (ifdEnd > o.tiffBytes) throw new RangeError(`${o.tags} tags need ${ifdEnd} bytes, more than tiffBytes ${o.tiffBytes}`);
  const valueAt = 10; // just after the entry count: the value reads the entries as text
  if (valueAt + o.valueBytes > o.tiffBytes) throw new RangeError(`a ${o.valueBytes}-byte value does not fit in ${o.tiffBytes} bytes`);
  const b = Buffer.alloc(o.tiffBytes, 0x41); // 'A' past the IFD: no trailing NULs to trim
  b.write('II*\0', 0, 'latin1');
  b.writeUInt32LE(8, 4); // IFD0 at 8
  b.writeUInt16LE(o.tags, 8);
  for (let i = 0; i < o.tags; i++) {
    const at = 10 + 12 * i;
    b.writeUInt16LE(0x1000 + i, at); // tags no dictionary names (below the EXIF/GPS pointers 0x8769/0x8825)
    b.writeUInt16LE(2, at + 2); // ASCII
    b.writeUInt32LE(o.valueBytes, at + 4);
    b.writeUInt32LE(valueAt, at + 8);
  }
  b.writeUInt32LE(0, ifdEnd - 4); // no IFD1
  b.writeUInt32BE(salt >>> 0, o.tiffBytes - 4); // inside the value's bytes only when it reaches the end
  return b;
}

/**
 * The TIFF: 10,000 tags pointing at the same 100 KB in a 128 KiB file. exifr on the event loop:
 * ~45 s blocked and RSS at 2 GB.
 */
export function tiffTagBomb(salt = 0, o: TagBombOptions = { tags: 10_000, valueBytes: 100_000, tiffBytes: 128 * 1024 }): Buffer {
  return tagBombTiff(o, salt);
}

/**
 * The same inside a JPEG's APP1 (EXIF) segment, which holds at most 65,533 bytes: 5,000 tags over the same
 * 60,000 bytes, a 65 KB file. exifr on the event loop: ~3.3 s blocked and +647 MB.
 */
export function jpegTagBomb(salt = 0, o: TagBombOptions = { tags: 5000, valueBytes: 60_000, tiffBytes: 65_525 }): Buffer {
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tagBombTiff(o, salt)]);
  if (payload.length + 2 > 0xffff) throw new RangeError(`APP1 payload of ${payload.length} bytes does not fit a JPEG segment`);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app1, payload, Buffer.from([0xff, 0xd9])]);
}

/** A PNG whose IHDR claims a size no decoder could allocate (the header's maximum: 4294967295 x 4294967295). */
export function pngHugeDimensions(salt = 0, width = 0xffffffff, height = 0xffffffff): Buffer {
  const b = Buffer.alloc(64);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  b.set([8, 6, 0, 0, 0], 24);
  b.writeUInt32BE(salt >>> 0, 60);
  return b;
}

/** A GIF whose logical screen is 0 x 0. */
export function gifZeroDimensions(salt = 0): Buffer {
  const b = Buffer.alloc(32);
  b.write('GIF89a', 0, 'latin1');
  b.writeUInt16LE(0, 6);
  b.writeUInt16LE(0, 8);
  b.writeUInt32BE(salt >>> 0, 24);
  b[31] = 0x3b; // trailer
  return b;
}
