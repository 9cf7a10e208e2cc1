import type { Context } from 'hono';
import { SpoolError, errnoCode } from '../errors.js';
import { newId } from '../ids.js';
import type { GroupCommitter } from '../ledger/group-commit.js';
import { imageKey } from '../s3/keys.js';
import type { SpoolStore } from '../spool/store.js';
import type { AppEnv } from './env.js';
import { receiveMultipart } from './multipart.js';

export interface IngestDeps {
  store: SpoolStore;
  committer: GroupCommitter;
  s3Prefix: string;
  maxImageBytes: number;
  isDraining: () => boolean;
  /** Called after each commit so the uploader can start at once. */
  onQueued: () => void;
  /** Tracks requests in progress so shutdown can wait for them. */
  track: <T>(work: Promise<T>) => Promise<T>;
}

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
    checkHeaders(c.req.header('content-type'), c.req.header('content-length'), deps.maxImageBytes);
    const receipt = await deps.track(accept(c, deps));
    c.header('Location', `/images/${receipt.id}`);
    return c.json(receipt, 202);
  };
}

async function accept(c: Context<AppEnv>, deps: IngestDeps) {
  const receivedAt = new Date();
  const id = newId(receivedAt.getTime());
  const { deviceId, file } = await receiveMultipart(c.env.incoming, deps.store, id, deps.maxImageBytes);
  const relPath = await deps.store.commit(file);
  try {
    await deps.committer.insert({
      id,
      device_id: deviceId,
      sha256: file.sha256,
      bytes: file.bytes,
      content_type: file.format.contentType,
      path: relPath,
      s3_key: imageKey(deps.s3Prefix, deviceId, id, file.format.ext, receivedAt),
      received_at: receivedAt.toISOString(),
    });
  } catch (err) {
    // No row, no ack: the file must go too (recovery would also remove it as an orphan after a crash).
    await deps.store.discard(deps.store.absolutePath(relPath));
    if (errnoCode(err) === 'SQLITE_FULL') {
      throw new SpoolError('disk_full', 'the spool disk is full (ledger write failed); retry later', { cause: err, headers: { 'Retry-After': '30' } });
    }
    throw new SpoolError('ledger_unavailable', 'could not record the image in the ledger', { cause: err });
  }
  deps.onQueued();
  return { id, device_id: deviceId, sha256: file.sha256, bytes: file.bytes, content_type: file.format.contentType, status: 'queued' as const };
}

function checkHeaders(contentType: string | undefined, contentLength: string | undefined, maxImageBytes: number): void {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) {
    throw new SpoolError('unsupported_media_type', `expected Content-Type multipart/form-data, got ${JSON.stringify(contentType ?? null)}`);
  }
  if (contentLength !== undefined && Number(contentLength) > maxImageBytes + MULTIPART_OVERHEAD_BYTES) {
    throw new SpoolError('image_too_large', `request body of ${contentLength} bytes exceeds MAX_IMAGE_BYTES (${maxImageBytes}) plus form overhead`,
      { headers: { Connection: 'close' } });
  }
}
