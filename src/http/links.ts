import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { describedRoute, route } from '../api/route.js';
import { createLinkRoute, linkUploadRoute, listLinksRoute, revokeLinkRoute } from '../api/routes/links.js';
import { durationSeconds, type LinkCreated } from '../api/schemas/links.js';
import { SpoolError, errnoCode } from '../errors.js';
import { newId } from '../ids.js';
import { isLedgerBusy, LedgerBusy, retryWhileBusy } from '../ledger/busy.js';
import { bytesLost } from '../ledger/lost.js';
import type { ImageRow, InsertResult, NewImage } from '../ledger/types.js';
import type { LinkUse, UploadLinks } from '../links/links.js';
import { receiveManyImages } from '../links/receive.js';
import { LINK_MAX_IMAGES_PER_REQUEST } from './limits.js';
import type { Logger } from '../log.js';
import { imageKey } from '../s3/keys.js';
import { reserveAsWritten, type Ticket } from '../spool/admission.js';
import type { SpooledFile } from '../spool/store.js';
import type { AppEnv } from './env.js';
import { discardAbsorbed, type IngestDeps } from './ingest.js';
import { duplicateReceipt, restoredReceipt, resentReceipt, storedReceipt, type Receipt } from './receipt.js';

/** Multipart framing per part, as on POST /image. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

export interface LinkDeps extends IngestDeps {
  links: UploadLinks;
  log: Logger;
}

/** `/u/{secret}`: uploads through an expirable link. Mounted at `/u`. */
export function linkUploadRoutes(deps: LinkDeps): OpenAPIHono<AppEnv> {
  const routes = new OpenAPIHono<AppEnv>();
  describedRoute(routes, linkUploadRoute, linkUploadHandler(deps));
  return routes;
}

/** `POST /admin/links`, `GET /admin/links`, `DELETE /admin/links/{token_id}`; mounted behind the admin token. */
export function adminLinkRoutes(links: UploadLinks, log: Logger): OpenAPIHono<AppEnv> {
  const routes = new OpenAPIHono<AppEnv>();
  route(routes, createLinkRoute, (c, { body }) => {
    const { secret, link } = links.create({ expiresInSeconds: durationSeconds(body.expires_in), maxUploads: body.max_uploads ?? null, deviceId: body.device_id ?? null });
    // The secret is in the answer and nowhere else: not in the log, not in the ledger.
    log.info({ token_id: link.token_id, expires_at: link.expires_at, max_uploads: link.max_uploads, device_id: link.device_id }, 'upload link created');
    const url = linkUrl(c, secret);
    const created: LinkCreated = { url, token_id: link.token_id, expires_at: link.expires_at, max_uploads: link.max_uploads, device_id: link.device_id };
    return c.json(created, 201);
  });
  route(routes, listLinksRoute, (c) => c.json({ links: links.list() }));
  route(routes, revokeLinkRoute, (c) => {
    const link = links.revoke(c.req.param('token_id') ?? '');
    log.info({ token_id: link.token_id }, 'upload link revoked');
    return c.json(link);
  });
  return routes;
}

/** Absolute when the request named its Host (the admin reached us by that name), else relative. */
function linkUrl(c: Context<AppEnv>, secret: string): string {
  const path = `/u/${secret}`;
  const host = c.env.incoming.headers.host;
  if (!host || !/^[A-Za-z0-9.\-[\]:]{1,255}$/.test(host)) return path;
  const scheme = new URL(c.req.url).protocol === 'https:' ? 'https' : 'http';
  return `${scheme}://${host}${path}`;
}

/**
 * POST /u/{secret}: like POST /image, for one or many `image` parts. Every image is durable (file fsynced,
 * renamed, directory fsynced, row committed) before the answer, an array of receipts in part order. All or
 * nothing: a refused request leaves no file and no row, and uses none of the link's uploads.
 */
export function linkUploadHandler(deps: LinkDeps) {
  return async function linkUpload(c: Context<AppEnv>): Promise<Response> {
    const use = deps.links.open(c.req.param('secret') ?? '');
    try {
      if (deps.isDraining()) throw new SpoolError('shutting_down', 'the gateway is shutting down; retry later', { headers: { 'Retry-After': '5' } });
      if (deps.store.degraded) throw new SpoolError('spool_degraded', `spool is degraded (${deps.store.degraded}); restart required`);
      const contentLength = c.req.header('content-length');
      checkHeaders(c.req.header('content-type'), contentLength, deps.maxImageBytes);
      if (c.req.header('idempotency-key') !== undefined) {
        throw new SpoolError('invalid_idempotency_key', 'Idempotency-Key is not supported on upload links (one request may carry many images); a resend of the same bytes is recognised without it');
      }
      // A declared length is reserved whole; without one, each image's bytes are reserved as they arrive.
      const declared = contentLength === undefined ? 0 : Number(contentLength);
      const ticket = await deps.admission.admit(declared);
      try {
        const { receipts, created } = await deps.track(accept(c, deps, use, ticket, reserveAsWritten(ticket, declared)));
        deps.log.info({ req_id: c.get('requestId'), token_id: use.tokenId, images: receipts.length, created }, 'upload link used');
        // As POST /image: 202 when a new receipt was made (stored or a duplicate), 200 when every part was a resend.
        return c.json(receipts, created === 0 ? 200 : 202);
      } finally {
        ticket.release();
      }
    } finally {
      use.release();
    }
  };
}

async function accept(c: Context<AppEnv>, deps: LinkDeps, use: LinkUse, ticket: Ticket, reserve: (bytes: number) => Promise<void>): Promise<{ receipts: Receipt[]; created: number }> {
  const receivedAt = new Map<string, Date>();
  const { deviceId, files } = await receiveManyImages(c.env.incoming, deps.store, {
    maxImageBytes: deps.maxImageBytes,
    maxImages: LINK_MAX_IMAGES_PER_REQUEST,
    pace: deps.bodyPace,
    fixedDeviceId: use.deviceId,
    reserve,
    written: (bytes) => ticket.wrote(bytes),
    onImage: () => {
      use.reserve(); // throws when the link has no room left for this part
      const at = new Date();
      const id = newId(at.getTime());
      receivedAt.set(id, at);
      return id;
    },
  });

  // A resend of bytes this device already sent: its first receipt, no second file (as on POST /image), unless
  // the first copy is lost: then these bytes go to its row's path and it is queued again.
  const earlier = files.map((f) => deps.ledger.earlierReceipt({ device_id: deviceId, sha256: f.sha256, idempotency_key: null }));
  const lost = earlier.map((e) => (e?.kind === 'resend' && bytesLost(e.earlier.blob) ? e.earlier.blob : null));
  await Promise.all(files.map((f, i) => (earlier[i] && !lost[i] ? deps.store.discard(f.tmpPath) : Promise.resolve())));
  const planned = await placeFiles(deps, files.flatMap((file, i) => (earlier[i] && !lost[i] ? [] : [{ file, restores: lost[i] ?? null }])),
    (file, relPath) => newRow(deps, deviceId, file, relPath, receivedAt.get(file.id) ?? new Date()));
  const results = planned.length === 0 ? [] : await commitRows(deps, use, ticket, planned);
  const { receipts, created } = await settle(deps, planned, results);
  return {
    created,
    receipts: files.map((f, i) => {
      const early = earlier[i];
      return early && !lost[i] ? resentReceipt(early) : (receipts.get(f.id) as Receipt);
    }),
  };
}

/** A file of the request on its way to a row: its own, or a lost row's it restores (`restores`). */
interface Planned {
  file: SpooledFile;
  row: NewImage;
  restores: ImageRow | null;
}

/**
 * Makes the files durable under their final names: their own, or the path of the lost row they restore.
 * Renames share directory fsyncs; if any fails, none of the request's own files may stay (a file put at a
 * lost row's path stays: the same bytes, harmless there whether or not the row is restored).
 */
async function placeFiles(deps: LinkDeps, files: Array<{ file: SpooledFile; restores: ImageRow | null }>,
  rowOf: (file: SpooledFile, relPath: string) => NewImage): Promise<Planned[]> {
  const placed = await Promise.allSettled(files.map(({ file, restores }) => (restores ? deps.store.commitAs(file, restores.path) : deps.store.commit(file))));
  const failure = placed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.all(placed.map((r, i) => (r.status === 'fulfilled' && !files[i]?.restores ? deps.store.discard(deps.store.absolutePath(r.value)) : Promise.resolve())));
    throw failure.reason;
  }
  return files.map(({ file, restores }, i) => {
    const row = rowOf(file, (placed[i] as PromiseFulfilledResult<string>).value);
    return { file, restores, row: restores ? { ...row, restores: restores.id } : row };
  });
}

/** One transaction for every row and the link's count; on failure no row means no ack, so their files go too. */
async function commitRows(deps: LinkDeps, use: LinkUse, ticket: Ticket, planned: Planned[]): Promise<InsertResult[]> {
  try {
    // Another process's lock on the ledger: wait for it on timers as ingest's group commit does, then 503.
    const results = await retryWhileBusy(() => use.commit(planned.map((p) => p.row)), { maxWaitMs: deps.committer.lockWaitMs });
    // In the same turn as the commit: the ledger counts these bytes now, so the reservation ends.
    ticket.landed();
    return results;
  } catch (err) {
    // Recovery would also remove them as orphans after a crash.
    await Promise.all(planned.map((p) => (p.restores ? Promise.resolve() : deps.store.discard(deps.store.absolutePath(p.row.path as string)))));
    if (err instanceof SpoolError) throw err;
    if (isLedgerBusy(err)) throw new LedgerBusy('images not recorded', err);
    if (errnoCode(err) === 'SQLITE_FULL') {
      throw new SpoolError('disk_full', 'the spool disk is full (ledger write failed); retry later', { cause: err, headers: { 'Retry-After': '30' } });
    }
    throw new SpoolError('ledger_unavailable', 'could not record the images in the ledger', { cause: err });
  }
}

/** Each committed row's receipt (by its file's id), and the files no row needs removed. */
async function settle(deps: LinkDeps, planned: Planned[], results: InsertResult[]): Promise<{ receipts: Map<string, Receipt>; created: number }> {
  const receipts = new Map<string, Receipt>();
  let stored = 0;
  let created = 0;
  for (const [i, { file, row, restores }] of planned.entries()) {
    const result = results[i];
    const relPath = row.path as string;
    if (result && 'absorbed' in result) await discardAbsorbed(deps, result.absorbed);
    if (result?.kind === 'inserted' || result?.kind === 'restored') {
      stored++;
      created++;
      const blob = result.kind === 'inserted' ? null : result.earlier.blob;
      if (blob === null || blob.metadata_at === null) deps.onStored?.(blob?.id ?? row.id, relPath, file.format.name);
      receipts.set(row.id, result.kind === 'inserted' ? storedReceipt(row) : restoredReceipt(result.earlier));
      continue;
    }
    // Bytes held already (another device's, or the same bytes twice in this request): this file is not needed,
    // unless it is at the path of a row that holds these bytes (a restore that another request made first).
    if (!restores || deps.ledger.get(restores.id)?.path !== relPath) await deps.store.discard(deps.store.absolutePath(relPath));
    if (result?.kind === 'duplicate_of') {
      created++;
      receipts.set(row.id, duplicateReceipt(row, result.original));
    } else if (result?.kind === 'resend' || result?.kind === 'key_conflict') receipts.set(row.id, resentReceipt(result));
  }
  if (stored > 0) deps.onQueued();
  return { receipts, created };
}

function newRow(deps: LinkDeps, deviceId: string, file: SpooledFile, relPath: string, receivedAt: Date): NewImage {
  return {
    id: file.id,
    device_id: deviceId,
    sha256: file.sha256,
    bytes: file.bytes,
    content_type: file.format.contentType,
    path: relPath,
    s3_key: imageKey(deps.s3Prefix, deviceId, file.id, file.format.ext, receivedAt),
    received_at: receivedAt.toISOString(),
    idempotency_key: null,
  };
}

function checkHeaders(contentType: string | undefined, contentLength: string | undefined, maxImageBytes: number): void {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) {
    throw new SpoolError('unsupported_media_type', `expected Content-Type multipart/form-data, got ${JSON.stringify(contentType ?? null)}`);
  }
  const limit = LINK_MAX_IMAGES_PER_REQUEST * (maxImageBytes + MULTIPART_OVERHEAD_BYTES);
  if (contentLength !== undefined && Number(contentLength) > limit) {
    throw new SpoolError('image_too_large', `request body of ${contentLength} bytes exceeds ${LINK_MAX_IMAGES_PER_REQUEST} x MAX_IMAGE_BYTES (${maxImageBytes}) plus form overhead`,
      { headers: { Connection: 'close' } });
  }
}
