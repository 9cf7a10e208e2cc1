import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { SpoolStore } from '../spool/store.js';
import type { AppEnv } from './env.js';

/** Reads an uploaded object (or a byte range of it) from S3. */
export type ObjectReader = (key: string, range: { start: number; end: number } | null) => Promise<Readable>;

export interface RetrieveDeps {
  ledger: ImageLedger;
  store: SpoolStore;
  readObject: ObjectReader;
}

/**
 * GET /images/:id: the image bytes, from the local spool while the file is there, else streamed from S3
 * (never buffered). ETag is the SHA-256 (If-None-Match: 304); one `Range` is honoured (206, or 416).
 */
export function retrieveHandler(deps: RetrieveDeps) {
  return async function retrieve(c: Context<AppEnv>): Promise<Response> {
    const id = c.req.param('id') ?? '';
    // A duplicate serves its original's bytes: the same bytes, by definition.
    const row = deps.ledger.resolve(id)?.blob;
    if (!row) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
    if (row.state === 'evicted') throw new SpoolError('image_gone', `image ${id} was evicted before upload (spool full); its bytes are gone`);
    const etag = `"${row.sha256}"`;
    const headers: Record<string, string> = {
      ETag: etag, 'Content-Type': row.content_type, 'Accept-Ranges': 'bytes', 'Cache-Control': 'private, max-age=31536000, immutable',
      // The bytes are whatever a device sent: a browser must not guess them into HTML or script.
      'X-Content-Type-Options': 'nosniff',
    };
    if (matchesEtag(c.req.header('if-none-match'), etag)) return new Response(null, { status: 304, headers });
    const range = ifRangeHolds(c.req.header('if-range'), etag) ? parseRange(c.req.header('range'), row.bytes) : null;
    if (range === 'unsatisfiable') {
      return c.json(new SpoolError('range_not_satisfiable', `range not satisfiable for ${row.bytes} bytes`).toJSON(), 416, { 'Content-Range': `bytes */${row.bytes}` });
    }
    const length = range ? range.end - range.start + 1 : row.bytes;
    headers['Content-Length'] = String(length);
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${row.bytes}`;
    const status = range ? 206 : 200;
    // Hono answers HEAD with the GET handler's headers and drops its body unread: a file or S3 stream opened
    // for it would stay open, one descriptor per HEAD.
    if (c.req.method === 'HEAD') return new Response(null, { status, headers });
    const body = await openBody(deps, id, row.path, range);
    return new Response(Readable.toWeb(body) as ReadableStream, { status, headers });
  };
}

/**
 * The local file is opened, not checked and then opened: the uploader may delete it (after its upload) at any
 * moment, and a stream that opened a path that was checked a moment before fails after the 200 is sent, a
 * response cut short. An open descriptor keeps reading a file deleted under it. When the file is gone, the
 * row is read again: it says 'uploaded' if that is why.
 */
async function openBody(deps: RetrieveDeps, id: string, relPath: string, range: { start: number; end: number } | null): Promise<Readable> {
  const file = await openRegularFile(deps.store.absolutePath(relPath));
  if (file) return file.createReadStream(range ? { start: range.start, end: range.end } : {});
  const row = deps.ledger.resolve(id)?.blob;
  if (row?.state !== 'uploaded') throw new SpoolError('not_found', 'the image file is not in the spool and has not been uploaded');
  return deps.readObject(row.s3_key, range);
}

async function openRegularFile(p: string): Promise<FileHandle | null> {
  let file: FileHandle;
  try {
    file = await open(p, 'r');
  } catch {
    return null;
  }
  if ((await file.stat().catch(() => null))?.isFile()) return file;
  await file.close().catch(() => undefined);
  return null;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').map((t) => t.trim().replace(/^W\//, '')).some((t) => t === etag || t === '*');
}

/**
 * RFC 9110 13.1.5: a Range is honoured only when If-Range (if present) names the current representation by
 * a strong ETag. A weak ETag or a date (no Last-Modified is sent) never matches: the client gets all of it.
 */
function ifRangeHolds(header: string | undefined, etag: string): boolean {
  return header === undefined || header.trim() === etag;
}

/** One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`; null for none (or several: send everything). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return header.includes(',') ? null : 'unsatisfiable';
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
