import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** The part of a Koa context these routes use (s3rver is a Koa application). */
export interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}

export type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

/**
 * Where s3rver keeps the parts of unfinished multipart uploads: `<dataDir>/<bucket>/._S3rver_uploads/<uploadId>/`,
 * one file per part (`<n>`) and, once the part was stored whole, its MD5 (`<n>.md5`, the part's ETag),
 * beside `key` (the object key the upload was created for).
 */
export function uploadsDir(dataDir: string, bucket: string): string {
  return path.join(dataDir, bucket, '._S3rver_uploads');
}

/**
 * ListParts and AbortMultipartUpload, which s3rver 3 lacks (it answers 405), so that the embedded target
 * supports every call the uploader makes: a multipart upload interrupted by a restart resumes with ListParts,
 * and a permanent failure aborts it. Every other request goes on to s3rver unchanged.
 */
export function multipartRoutes(dataDir: string): KoaMiddleware {
  return async function s3rverMultipartExtension(ctx, next) {
    const uploadId = single(ctx.query['uploadId']);
    const target = parseTarget(ctx.path);
    if (uploadId === undefined || target === null || !/^[\w.-]+$/.test(uploadId)) return next();
    const dir = path.join(uploadsDir(dataDir, target.bucket), uploadId);
    if (ctx.method === 'GET') return listParts(ctx, dir, target, uploadId);
    if (ctx.method === 'DELETE') return abortUpload(ctx, dir, target);
    return next();
  };
}

interface Target {
  bucket: string;
  key: string;
}

/** Path-style `/<bucket>/<key>` (the embedded target is always addressed path-style). */
function parseTarget(urlPath: string): Target | null {
  const m = /^\/([^/]+)\/(.+)$/.exec(urlPath);
  if (!m) return null;
  try {
    return { bucket: decodeURIComponent(m[1] as string), key: decodeURIComponent(m[2] as string) };
  } catch {
    return null;
  }
}

/** The upload exists and was created for this key (a ListParts under another key must not see it). */
async function uploadFor(dir: string, key: string): Promise<boolean> {
  const stored = await readFile(path.join(dir, 'key'), 'utf8').catch(() => null);
  return stored === key;
}

async function listParts(ctx: KoaContext, dir: string, target: Target, uploadId: string): Promise<void> {
  if (!(await uploadFor(dir, target.key))) return noSuchUpload(ctx);
  const marker = Number(single(ctx.query['part-number-marker']) ?? 0) || 0;
  const maxParts = Math.min(1000, Math.max(1, Number(single(ctx.query['max-parts']) ?? 1000) || 1000));
  const names = await readdir(dir);
  // A part without its .md5 was still being written (or cut by a crash): S3 never acknowledged it.
  const numbers = names.filter((n) => /^\d+$/.test(n) && names.includes(`${n}.md5`)).map(Number)
    .filter((n) => n > marker).sort((a, b) => a - b);
  const page = numbers.slice(0, maxParts);
  const truncated = numbers.length > page.length;
  const parts = await Promise.all(page.map(async (n) => {
    const [info, md5] = await Promise.all([stat(path.join(dir, String(n))), readFile(path.join(dir, `${n}.md5`), 'utf8')]);
    return `<Part><PartNumber>${n}</PartNumber><LastModified>${info.mtime.toISOString()}</LastModified>` +
      `<ETag>"${xml(md5.trim())}"</ETag><Size>${info.size}</Size></Part>`;
  }));
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Bucket>${xml(target.bucket)}</Bucket><Key>${xml(target.key)}</Key><UploadId>${xml(uploadId)}</UploadId>` +
    `<PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${page.at(-1) ?? marker}</NextPartNumberMarker>` +
    `<MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>${parts.join('')}</ListPartsResult>`;
}

async function abortUpload(ctx: KoaContext, dir: string, target: Target): Promise<void> {
  if (!(await uploadFor(dir, target.key))) return noSuchUpload(ctx);
  await rm(dir, { recursive: true, force: true });
  ctx.status = 204;
  ctx.body = null;
}

function noSuchUpload(ctx: KoaContext): void {
  ctx.status = 404;
  ctx.type = 'application/xml';
  ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code>' +
    '<Message>The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message></Error>';
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
