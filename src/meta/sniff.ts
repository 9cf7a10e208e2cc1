/** Image formats accepted at ingest, identified by magic bytes rather than the client's Content-Type. */
export interface ImageFormat {
  name: 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'heic';
  ext: string;
  contentType: string;
}

const JPEG: ImageFormat = { name: 'jpeg', ext: 'jpg', contentType: 'image/jpeg' };
const PNG: ImageFormat = { name: 'png', ext: 'png', contentType: 'image/png' };
const WEBP: ImageFormat = { name: 'webp', ext: 'webp', contentType: 'image/webp' };
const GIF: ImageFormat = { name: 'gif', ext: 'gif', contentType: 'image/gif' };
const TIFF: ImageFormat = { name: 'tiff', ext: 'tiff', contentType: 'image/tiff' };
const HEIC: ImageFormat = { name: 'heic', ext: 'heic', contentType: 'image/heic' };

/** Bytes needed before a verdict is possible. */
export const SNIFF_BYTES = 12;

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);

/** Returns the format, or null when the header matches no accepted image type. */
export function sniffImage(head: Uint8Array): ImageFormat | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return JPEG;
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return PNG;
  const ascii = b.subarray(0, SNIFF_BYTES).toString('latin1');
  if (ascii.startsWith('GIF87a') || ascii.startsWith('GIF89a')) return GIF;
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return WEBP;
  if (ascii.startsWith('II*\0') || ascii.startsWith('MM\0*')) return TIFF;
  if (ascii.slice(4, 8) === 'ftyp' && HEIF_BRANDS.has(ascii.slice(8, 12))) return HEIC;
  return null;
}
