import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import { SpoolError, errnoCode } from '../errors.js';
import { newId } from '../ids.js';
import type { GroupCommitter } from '../ledger/group-commit.js';
import type { ImageLedger } from '../ledger/images.js';
import { bytesLost } from '../ledger/lost.js';
import type { EarlierReceipt, ImageRow, InsertResult, NewImage } from '../ledger/types.js';
import { isLedgerBusy, LedgerBusy } from '../ledger/busy.js';
import { WalSyncFailed } from '../ledger/wal-sync.js';
import type { Logger } from '../log.js';
import type { ImageFormat } from '../meta/sniff.js';
import { imageKey } from '../s3/keys.js';
import type { Admission, Ticket } from '../spool/admission.js';
import type { SpooledFile, SpoolStore } from '../spool/store.js';
import type { BodyGate } from './body-gate.js';
import { clientKeys, type ClientOf } from './client-address.js';
import type { AppEnv } from './env.js';
import { maxJsonBodyBytes, receiveJson } from './json-upload.js';
import { IDEMPOTENCY_KEY_PATTERN } from './limits.js';
import { receiveMultipart, type BodyPace } from './multipart.js';
import { duplicateReceipt, restoredReceipt, resentReceipt, storedReceipt, type Receipt } from './receipt.js';

export interface IngestDeps {
  store: SpoolStore;
  ledger: ImageLedger;
  committer: GroupCommitter;
  admission: Admission;
  s3Prefix: string;
  maxImageBytes: number;
  /** DEVICE_AUTH=token: the device id a bearer token proves (throws 401), or null when device auth is off. */
  authenticateDevice: ((authorization: string | undefined) => string) | null;
  /** INGEST_BODY_TIMEOUT_MS / INGEST_MIN_BODY_RATE: slower bodies are refused (408). */
  bodyPace: BodyPace;
  isDraining: () => boolean;
  /** Called after each commit so the uploader can start at once. */
  onQueued: () => void;
  /** Called with each newly stored image (metadata extraction, off the request path). */
  onStored?: (id: string, relPath: string, format: ImageFormat['name']) => void;
  /** Tracks requests in progress so shutdown can wait for them. */
  track: <T>(work: Promise<T>) => Promise<T>;
  /** Bounds the bodies read at once (INGEST_READ_SLOTS); absent = no bound. */
  bodyGate?: BodyGate;
  /** For events that are not one request's outcome (a lost image stored again); absent in unit tests. */
  log?: Logger;
  /** Which client a request counts against (TRUSTED_PROXIES); absent = its peer address. */
  clientOf?: ClientOf;
}

const peerAddress = clientKeys();

/** Multipart framing and the device_id field: a generous allowance on top of the image itself. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/**
 * POST /image. The answer is 202 only after the file is fsynced under its final name, the directory is
 * fsynced, and the ledger row has committed: an ack is a promise that the image survives a power cut.
 */
export function ingestHandler(deps: IngestDeps) {
  return async function ingest(c: Context<AppEnv>): Promise<Response> {
    if (deps.isDraining()) throw new SpoolError('shutting_down', 'the gateway is shutting down; retry on another gateway or later', { headers: { 'Retry-After': '5' } });
    if (deps.store.degraded) throw new SpoolError('spool_degraded', `spool is degraded (${deps.store.degraded}); restart required`);
    // Credentials first: a client without a device token learns nothing else about the endpoint.
    const tokenDevice = deps.authenticateDevice?.(c.req.header('authorization')) ?? null;
    const contentLength = c.req.header('content-length');
    checkHeaders(c.req.header('content-type'), contentLength, deps.maxImageBytes);
    const idempotencyKey = parseIdempotencyKey(c.req.header('idempotency-key'));
    const ticket = await deps.admission.admit(contentLength === undefined ? deps.maxImageBytes : Number(contentLength));
    try {
      const outcome = await deps.track(accept(c, deps, idempotencyKey, tokenDevice, ticket));
      c.header('Location', `/images/${outcome.receipt.id}`);
      return c.json(outcome.receipt, outcome.status);
    } finally {
      ticket.release();
    }
  };
}

async function accept(c: Context<AppEnv>, deps: IngestDeps, idempotencyKey: string | null, tokenDevice: string | null, ticket: Ticket): Promise<Outcome> {
  const receivedAt = new Date();
  const id = newId(receivedAt.getTime());
  ticket.forImage(id);
  const receive = isJson(c.req.header('content-type')) ? receiveJson : receiveMultipart;
  const { deviceId, file } = await readBody(deps, () => receive(c.env.incoming, deps.store, id, deps.maxImageBytes, deps.bodyPace, tokenDevice), c.env.incoming);
  ticket.wrote(file.bytes);
  const row = (path: string | null): NewImage => ({
    id, device_id: deviceId, sha256: file.sha256, bytes: file.bytes, content_type: file.format.contentType, path,
    s3_key: imageKey(deps.s3Prefix, deviceId, id, file.format.ext, receivedAt), received_at: receivedAt.toISOString(), idempotency_key: idempotencyKey,
  });
  // A device that never got its ack resends: answer with the first receipt, keep no second copy; unless the
  // first copy is lost (deleted, corrupt, evicted): then these bytes take its place.
  const earlier = deps.ledger.earlierReceipt({ device_id: deviceId, sha256: file.sha256, idempotency_key: idempotencyKey });
  if (earlier && isLostResend(earlier)) return restoreLost(deps, file, row(null), earlier.earlier.blob);
  if (earlier) {
    await deps.store.discard(file.tmpPath);
    return answerEarlier(earlier);
  }
  // Bytes another device already sent need no file of their own: skip the rename and its fsyncs.
  let relPath = deps.ledger.liveOriginal(file.sha256) ? null : await deps.store.commit(file);
  let result = await record(deps, row(relPath), relPath === null ? file.tmpPath : deps.store.absolutePath(relPath));
  if (result.kind === 'needs_file') {
    // The original was evicted or lost between the look above and the transaction: store these bytes after all.
    relPath = await deps.store.commit(file);
    result = await record(deps, row(relPath), deps.store.absolutePath(relPath));
  }
  if (result.kind === 'inserted' || result.kind === 'duplicate_of') await discardAbsorbed(deps, result.absorbed);
  if (result.kind === 'inserted' && relPath !== null) {
    deps.onStored?.(id, relPath, file.format.name);
    deps.onQueued();
    return { receipt: storedReceipt(row(relPath)), status: 202 };
  }
  // A duplicate, or a concurrent resend that won the race inside the transaction: the bytes are held elsewhere.
  await deps.store.discard(relPath === null ? file.tmpPath : deps.store.absolutePath(relPath));
  if (result.kind === 'duplicate_of') return { receipt: duplicateReceipt(row(null), result.original), status: 202 };
  if (result.kind === 'resend' || result.kind === 'key_conflict') return answerEarlier(result);
  throw new SpoolError('ledger_unavailable', `image ${id}: the ledger asked for a stored file twice`);
}

/** A resend whose first copy is gone from the spool and was never uploaded (src/ledger/lost.ts). */
function isLostResend(earlier: EarlierReceipt): boolean {
  return earlier.kind === 'resend' && bytesLost(earlier.earlier.blob);
}

/**
 * A resend of bytes the gateway lost: they go to the path of the row that held them, which is queued again
 * (202, the first receipt). If that row was restored meanwhile (another resend), this is a plain resend.
 */
async function restoreLost(deps: IngestDeps, file: SpooledFile, row: NewImage, blob: ImageRow): Promise<Outcome> {
  const placed = await deps.store.commitAs(file, blob.path);
  // No discard on failure: the file at that path may be a concurrent resend's, already committed.
  const result = await record(deps, { ...row, path: placed, restores: blob.id }, null);
  if (result.kind === 'restored') {
    await discardAbsorbed(deps, result.absorbed);
    const restored = result.earlier.blob;
    if (restored.metadata_at === null) deps.onStored?.(restored.id, placed, file.format.name);
    deps.onQueued();
    deps.log?.warn({ id: restored.id, receipt: result.earlier.row.id, device_id: row.device_id }, 'lost image stored again from a resend of its bytes; queued');
    return { receipt: restoredReceipt(result.earlier), status: 202 };
  }
  // Equal bytes at a row's own path are never wrong; elsewhere (that row became a duplicate) they are not needed.
  if (deps.ledger.get(blob.id)?.path !== placed) await deps.store.discard(deps.store.absolutePath(placed));
  if (result.kind === 'resend' || result.kind === 'key_conflict') return answerEarlier(result);
  throw new SpoolError('ledger_unavailable', `image ${row.id}: unexpected ledger answer ${result.kind} to a resend`);
}

/** Leftover files of rows that had lost these bytes and now share the stored copy (best effort: recovery too). */
export async function discardAbsorbed(deps: Pick<IngestDeps, 'store'>, paths: readonly string[] | undefined): Promise<void> {
  for (const p of paths ?? []) await deps.store.discard(deps.store.absolutePath(p)).catch(() => undefined);
}

/** Reads the body in a read slot, given back once the last byte is read: the fsyncs that follow hold no buffers. */
async function readBody<T>(deps: IngestDeps, read: () => Promise<T>, req: IncomingMessage): Promise<T> {
  if (!deps.bodyGate) return read();
  const leave = await deps.bodyGate.enter({ bytesRead: () => req.socket.bytesRead, heldBack: () => req.isPaused() },
    { client: (deps.clientOf ?? peerAddress)(req), declaredBytes: declaredLength(req) });
  req.once('end', leave);
  try {
    return await read();
  } finally {
    req.off('end', leave);
    leave();
  }
}

interface Outcome {
  receipt: Receipt;
  /** 202: a new receipt (stored, or a duplicate of bytes held already); 200: a resend's first receipt. */
  status: 200 | 202;
}

/**
 * Inserts through the group committer; on failure no row means no ack, so the file (at `filePath`) goes too
 * (null: a file that may be another row's, which stays).
 */
async function record(deps: IngestDeps, row: NewImage, filePath: string | null): Promise<InsertResult> {
  try {
    return await deps.committer.insert(row);
  } catch (err) {
    // The row is in the ledger, only its WAL sync failed: the file stays with it (after the restart, recovery
    // keeps both if the row reached the disk, else removes the file as an orphan).
    if (err instanceof WalSyncFailed) throw err;
    // Recovery would also remove a committed file as an orphan after a crash.
    if (filePath !== null) await deps.store.discard(filePath);
    // Another process held the ledger's write lock for LEDGER_LOCK_WAIT_MS: 503 with Retry-After, not a fault.
    if (isLedgerBusy(err)) throw err instanceof LedgerBusy ? err : new LedgerBusy(`image ${row.id} not recorded`, err);
    if (errnoCode(err) === 'SQLITE_FULL') {
      throw new SpoolError('disk_full', 'the spool disk is full (ledger write failed); retry later', { cause: err, headers: { 'Retry-After': '30' } });
    }
    throw new SpoolError('ledger_unavailable', 'could not record the image in the ledger', { cause: err });
  }
}

function answerEarlier(earlier: EarlierReceipt): Outcome {
  if (earlier.kind === 'key_conflict') {
    const o = earlier.earlier.row;
    throw new SpoolError('idempotency_key_reused',
      `Idempotency-Key was already used by device ${o.device_id} for image ${o.id} with other bytes (sha256 ${o.sha256})`);
  }
  return { receipt: resentReceipt(earlier), status: 200 };
}

/** Idempotency-Key: 1-200 visible ASCII characters (a UUID is typical), or absent. */
function parseIdempotencyKey(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  if (!IDEMPOTENCY_KEY_PATTERN.test(raw)) {
    throw new SpoolError('invalid_idempotency_key', 'Idempotency-Key must be 1-200 visible ASCII characters');
  }
  return raw;
}

/** Content-Length when the request declares one, else undefined (chunked). */
function declaredLength(req: IncomingMessage): number | undefined {
  const n = Number(req.headers['content-length']);
  return req.headers['content-length'] !== undefined && Number.isFinite(n) && n >= 0 ? n : undefined;
}

function isJson(contentType: string | undefined): boolean {
  return /^application\/json\s*(;|$)/i.test(contentType ?? '');
}

function checkHeaders(contentType: string | undefined, contentLength: string | undefined, maxImageBytes: number): void {
  if (isJson(contentType)) {
    // Refused before a byte is read when the declared body cannot hold an allowed image's base64.
    if (contentLength !== undefined && Number(contentLength) > maxJsonBodyBytes(maxImageBytes)) {
      throw new SpoolError('image_too_large', `JSON body of ${contentLength} bytes exceeds the base64 of MAX_IMAGE_BYTES (${maxImageBytes})`, { headers: { Connection: 'close' } });
    }
    return;
  }
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) {
    throw new SpoolError('unsupported_media_type', `expected Content-Type multipart/form-data or application/json, got ${JSON.stringify(contentType ?? null)}`);
  }
  if (contentLength !== undefined && Number(contentLength) > maxImageBytes + MULTIPART_OVERHEAD_BYTES) {
    throw new SpoolError('image_too_large', `request body of ${contentLength} bytes exceeds MAX_IMAGE_BYTES (${maxImageBytes}) plus form overhead`,
      { headers: { Connection: 'close' } });
  }
}
