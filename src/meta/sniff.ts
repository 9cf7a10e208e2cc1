/** Image formats the gateway recognises, identified by magic bytes rather than the client's Content-Type. */
export const IMAGE_FORMAT_NAMES = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heic', 'avif', 'jxl', 'bmp'] as const;
export type ImageFormatName = (typeof IMAGE_FORMAT_NAMES)[number];

export interface ImageFormat {
  /** `binary`: bytes that are no recognised image, accepted only with IMAGE_FORMATS=any. */
  name: ImageFormatName | 'binary';
  ext: string;
  contentType: string;
  /** The metadata extractor (src/meta/extract.ts) knows this format; the others never reach it. */
  metadata: boolean;
}

const format = (name: ImageFormat['name'], ext: string, contentType: string, metadata: boolean): ImageFormat => ({ name, ext, contentType, metadata });
const JPEG = format('jpeg', 'jpg', 'image/jpeg', true);
const PNG = format('png', 'png', 'image/png', true);
const WEBP = format('webp', 'webp', 'image/webp', true);
const GIF = format('gif', 'gif', 'image/gif', true);
const TIFF = format('tiff', 'tiff', 'image/tiff', true);
const HEIC = format('heic', 'heic', 'image/heic', true);
const AVIF = format('avif', 'avif', 'image/avif', false);
const JXL = format('jxl', 'jxl', 'image/jxl', false);
const BMP = format('bmp', 'bmp', 'image/bmp', false);
export const BINARY = format('binary', 'bin', 'application/octet-stream', false);

/** Everything a ledger row's content_type can be. */
export const STORED_FORMATS: readonly ImageFormat[] = Object.freeze([JPEG, PNG, WEBP, GIF, TIFF, HEIC, AVIF, JXL, BMP, BINARY]);
const ALL = STORED_FORMATS;

/** Bytes needed before a verdict is possible (a BMP's DIB header size, an ISO-BMFF ftyp's first compatible brands). */
export const SNIFF_BYTES = 32;

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const AVIF_BRANDS = new Set(['avif', 'avis']);
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JXL_CONTAINER = Buffer.from([0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a]);
/** BITMAPCOREHEADER, OS/2 and BITMAPINFOHEADER v1-v5 sizes: "BM" alone is too weak a signature (text may start so). */
const BMP_DIB_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

/** Returns the format, or null when the header matches no recognised image type. */
export function sniffImage(head: Uint8Array): ImageFormat | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return JPEG;
  if (b.length >= 8 && b.subarray(0, 8).equals(PNG_SIGNATURE)) return PNG;
  if ((b.length >= 2 && b[0] === 0xff && b[1] === 0x0a) || (b.length >= 12 && b.subarray(0, 12).equals(JXL_CONTAINER))) return JXL;
  const ascii = b.subarray(0, SNIFF_BYTES).toString('latin1');
  if (ascii.startsWith('GIF87a') || ascii.startsWith('GIF89a')) return GIF;
  if (ascii.startsWith('RIFF') && ascii.slice(8, 12) === 'WEBP') return WEBP;
  if (ascii.startsWith('II*\0') || ascii.startsWith('MM\0*')) return TIFF;
  if (ascii.slice(4, 8) === 'ftyp') return isoBrand(b, ascii);
  if (isBmp(b)) return BMP;
  return null;
}

/** Whether the metadata extractor knows this format (false for `binary` and formats added without a parser). */
export function hasMetadataParser(name: ImageFormat['name']): boolean {
  return ALL.some((f) => f.name === name && f.metadata);
}

/** The format with this Content-Type (as stored in the ledger), or null for one the gateway never stores. */
export function formatByContentType(contentType: string): ImageFormat | null {
  return ALL.find((f) => f.contentType === contentType) ?? null;
}

/**
 * ISO-BMFF (HEIF family): the major brand decides, except for the generic `mif1`/`msf1`: then an AVIF brand
 * among the compatible brands (inside the ftyp box) makes it AVIF, as the AVIF specification allows.
 */
function isoBrand(b: Buffer, ascii: string): ImageFormat | null {
  const major = ascii.slice(8, 12);
  if (AVIF_BRANDS.has(major)) return AVIF;
  if (!HEIF_BRANDS.has(major)) return null;
  if (major === 'mif1' || major === 'msf1') {
    const boxEnd = Math.min(b.length >= 4 ? b.readUInt32BE(0) : 0, ascii.length);
    for (let at = 16; at + 4 <= boxEnd; at += 4) if (AVIF_BRANDS.has(ascii.slice(at, at + 4))) return AVIF;
  }
  return HEIC;
}

function isBmp(b: Buffer): boolean {
  return b.length >= 18 && b[0] === 0x42 && b[1] === 0x4d && b.readUInt32LE(6) === 0 && BMP_DIB_SIZES.has(b.readUInt32LE(14));
}
