import { open } from 'node:fs/promises';
import exifr from 'exifr';
import { headerDimensions, type Dimensions } from './dimensions.js';
import type { ImageFormat } from './sniff.js';

/** What the catalogue knows about one image. Every field may be null: most images carry little of this. */
export interface ImageMetadata {
  width: number | null;
  height: number | null;
  camera_make: string | null;
  camera_model: string | null;
  gps_lat: number | null;
  gps_lon: number | null;
  /** Capture time as written in EXIF (local to the camera), as "YYYY-MM-DDTHH:MM:SS". */
  captured_at: string | null;
  /** The same in UTC, only when EXIF gives the offset (OffsetTimeOriginal). */
  captured_at_utc: string | null;
  /** EXIF orientation 1-8. */
  orientation: number | null;
}

/**
 * Metadata sits at the start of the file: a JPEG's EXIF segment is at most 64 KiB, and the frame header
 * follows the APP segments. When extra segments (ICC, MPF) push the frame header further, the size comes
 * from EXIF instead. 512 KiB cost ~15% of ingest throughput in a 150-post burst (55-57 vs 67 images/s
 * without extraction); 128 KiB costs nothing measurable (68-73 images/s), see docs/BENCHMARKS.md.
 */
export const HEAD_BYTES = 128 * 1024;

/** exifr's options type (its typings declare but do not export it). */
type ExifrOptions = NonNullable<Parameters<typeof exifr.sidecar>[1]>;

/**
 * Only the tags the catalogue stores (and the IFD pointers exifr adds to reach them). exifr then decodes
 * each of these once, however many entries an IFD holds: a TIFF of 10,000 tags pointing at the same 100 KB
 * decoded all of them, 45 s and 2 GB on the event loop (issue 18), and now decodes none of them.
 *
 * One object for every call: exifr keeps the options it builds from each options object in a Map keyed by
 * that object, forever (`Options.useCached`). A literal per call leaked ~30 Sets and ~10 objects per image
 * (~11 MB a minute at 20 images/s in the soak, docs/BENCHMARKS.md, issue 7).
 */
export const EXIF_OPTIONS: Readonly<ExifrOptions> = Object.freeze({
  pick: [
    'Make', 'Model', 'Orientation', 'ImageWidth', 'ImageHeight',
    'DateTimeOriginal', 'CreateDate', 'OffsetTimeOriginal', 'OffsetTime', 'ExifImageWidth', 'ExifImageHeight',
    'GPSLatitudeRef', 'GPSLatitude', 'GPSLongitudeRef', 'GPSLongitude',
  ],
  ifd1: false, xmp: false, icc: false, iptc: false, jfif: false, ihdr: false,
  translateValues: false, reviveValues: false, mergeOutput: true,
});

/**
 * Reads metadata from the first bytes of a spooled image, on the calling thread. The service never calls
 * this on its event loop: untrusted bytes are parsed on a metadata thread (src/meta/metadata-pool.ts), which
 * runs the same functions. Never throws for bad metadata: a corrupt or absent EXIF block gives nulls.
 */
export async function extractMetadata(path: string, format: ImageFormat['name']): Promise<ImageMetadata> {
  const head = await readHead(path);
  return metadataFromTags(await readTags(head), headerDimensions(format, head));
}

async function readHead(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(HEAD_BYTES); // only the bytes read are used
    const { bytesRead } = await handle.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function readTags(head: Buffer): Promise<Record<string, unknown>> {
  try {
    return ((await exifr.parse(head, EXIF_OPTIONS)) as Record<string, unknown> | undefined) ?? {};
  } catch {
    return {}; // corrupt metadata never fails anything
  }
}

/*
 * From here on, the functions also run on the metadata threads, whose code is built from their source text
 * (src/meta/thread-source.ts): each may call only the others listed in TAG_FUNCTIONS and globals, never an
 * import or a module-level constant.
 */

/** The catalogue's fields from exifr's (merged, untranslated) tags and the size the format header gives. */
export function metadataFromTags(exif: Record<string, unknown>, header: Dimensions | null): ImageMetadata {
  const captured = text(exif['DateTimeOriginal']) ?? text(exif['CreateDate']);
  const local = captured ? exifTime(captured) : null;
  return {
    width: header?.width ?? positive(exif['ExifImageWidth']) ?? positive(exif['ImageWidth']),
    height: header?.height ?? positive(exif['ExifImageHeight']) ?? positive(exif['ImageHeight']),
    camera_make: text(exif['Make']),
    camera_model: text(exif['Model']),
    gps_lat: coordinate(exif['latitude'], 90),
    gps_lon: coordinate(exif['longitude'], 180),
    captured_at: local,
    captured_at_utc: local ? toUtc(local, text(exif['OffsetTimeOriginal']) ?? text(exif['OffsetTime'])) : null,
    orientation: orientation(exif['Orientation']),
  };
}

/** At most 200 characters once trailing NULs and spaces are gone (a loop: /\0+$/ is quadratic on a long run of NULs). */
function text(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  let end = v.length;
  while (end > 0 && v.charCodeAt(end - 1) === 0) end--;
  const t = v.slice(0, end).trim();
  return t.length > 0 && t.length <= 200 ? t : null;
}

function positive(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 1_000_000 ? v : null;
}

function coordinate(v: unknown, limit: number): number | null {
  return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= limit ? Math.round(v * 1e7) / 1e7 : null;
}

function orientation(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 8 ? v : null;
}

/** "2026:11:23 10:20:30" -> "2026-11-23T10:20:30", or null when it is not a real date. */
function exifTime(s: string): string | null {
  const m = /^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(s);
  if (!m) return null;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
  return Number.isNaN(Date.parse(`${iso}Z`)) ? null : iso;
}

function toUtc(local: string, offset: string | null): string | null {
  if (!offset || !/^[+-]\d{2}:\d{2}$/.test(offset)) return null;
  const t = Date.parse(`${local}${offset}`);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

/** What a metadata thread needs of this module (see the note above). */
export const TAG_FUNCTIONS: ReadonlyArray<(...args: never[]) => unknown> = [metadataFromTags, text, positive, coordinate, orientation, exifTime, toUtc];
