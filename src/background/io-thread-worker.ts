/**
 * The I/O thread itself (see io-thread.ts for why it exists). Jobs arrive in arrays and each array is
 * answered with one array (one message per callback on each side, not one per job).
 *
 * - `{ op: 'digest', id, path, md5 }`: SHA-256 and length of a file (and its base64 MD5 when `md5`), read with one reused buffer and blocking
 *   reads (the thread has nothing else to do, and the thread pool stays free for the spool's writes and fsyncs).
 * - Hash sessions over `workerData.staging` (a shared WebAssembly.Memory): `{ op: 'update', id, sid, offset,
 *   length }` hashes those bytes in place and answers `{ id }` once the block may be reused; `{ op: 'final',
 *   id, sid }` answers `{ id, sha256 }`; `{ op: 'drop', sid }` forgets the session (no answer).
 * - With `workerData.checkpoint`: its own ledger connection copies the WAL into the database with PASSIVE
 *   checkpoints, which never wait for and never block the service's writes. When every frame is copied and
 *   the file is over `truncateAboveBytes` (a reader had pinned it), a TRUNCATE checkpoint empties it. That one
 *   takes the write lock for its length (a few ms: the PASSIVE pass copied nearly everything), and never
 *   waits for it (busy_timeout 0): a busy ledger is tried again next interval. Each pass is answered
 *   `{ checkpointPass: { walBytes, frames, checkpointed, truncated } }`; failures are reported; if the ledger
 *   cannot be opened, only this role ends.
 * - `'stop'`: closes the ledger connection and the port.
 *
 * Only `node:` modules are imported, and types are erased at run time: Node >= 22.18 runs this file as it is
 * (type stripping), which is how tests load it from src/; dist/ has its compiled copy.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

export type IoJob =
  | { op: 'digest'; id: number; path: string; md5?: boolean }
  | { op: 'update'; id: number; sid: number; offset: number; length: number }
  | { op: 'final'; id: number; sid: number }
  | { op: 'drop'; sid: number };

export interface IoThreadData {
  checkpoint: { driver: string; file: string; intervalMs: number; truncateAboveBytes: number } | null;
  staging: WebAssembly.Memory | null;
}

interface CheckpointDb {
  pragma(sql: string): unknown;
  close(): void;
}
interface CheckpointRow { busy: number; log: number; checkpointed: number }

const data = workerData as IoThreadData;
const port = parentPort;
const buffer = Buffer.allocUnsafe(1 << 20);
const sessions = new Map<number, Hash>();

function digest(path: string, withMd5: boolean): { sha256: string; bytes: number; md5?: string } {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    const md5 = withMd5 ? createHash('md5') : null;
    let bytes = 0;
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0;) {
      hash.update(buffer.subarray(0, n));
      md5?.update(buffer.subarray(0, n));
      bytes += n;
    }
    return { sha256: hash.digest('hex'), bytes, ...(md5 ? { md5: md5.digest('base64') } : {}) };
  } finally {
    closeSync(fd);
  }
}

function sessionHash(sid: number): Hash {
  let hash = sessions.get(sid);
  if (!hash) {
    hash = createHash('sha256');
    sessions.set(sid, hash);
  }
  return hash;
}

function job(m: Exclude<IoJob, { op: 'drop' }>): Record<string, unknown> {
  switch (m.op) {
    case 'digest': return digest(m.path, m.md5 === true);
    case 'update': {
      if (!data.staging) throw new Error('no staging memory');
      // .buffer is read each time: the memory grows, and an older buffer object keeps its old length.
      sessionHash(m.sid).update(new Uint8Array(data.staging.buffer, m.offset, m.length));
      return {};
    }
    case 'final': {
      const sha256 = sessionHash(m.sid).digest('hex');
      sessions.delete(m.sid);
      return { sha256 };
    }
  }
}

function walBytes(file: string): number {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}

function checkpoint(db: CheckpointDb, cp: NonNullable<IoThreadData['checkpoint']>): Record<string, unknown> {
  const [pass] = db.pragma('wal_checkpoint(PASSIVE)') as CheckpointRow[];
  let truncated = false;
  if (pass && pass.busy === 0 && pass.checkpointed === pass.log && walBytes(cp.file) > cp.truncateAboveBytes) {
    const [full] = db.pragma('wal_checkpoint(TRUNCATE)') as CheckpointRow[];
    truncated = full?.busy === 0;
  }
  return { walBytes: walBytes(cp.file), frames: pass?.log ?? 0, checkpointed: pass?.checkpointed ?? 0, truncated };
}

const message = (err: unknown): string => String((err as Error | undefined)?.message);

function startCheckpoints(): { db: CheckpointDb; timer: NodeJS.Timeout } | null {
  const cp = data.checkpoint;
  if (!cp || !port) return null;
  try {
    const Database = createRequire(import.meta.url)(cp.driver) as new (file: string, options: { fileMustExist: boolean }) => CheckpointDb;
    const db = new Database(cp.file, { fileMustExist: true });
    db.pragma('busy_timeout = 0');
    db.pragma('synchronous = FULL');
    const timer = setInterval(() => {
      try {
        port.postMessage({ checkpointPass: checkpoint(db, cp) });
      } catch (err) {
        port.postMessage({ checkpointError: message(err) });
      }
    }, cp.intervalMs);
    return { db, timer };
  } catch (err) {
    port.postMessage({ checkpointFailed: message(err) });
    return null;
  }
}

let replies: Array<Record<string, unknown>> = [];
function sendReplies(): void {
  const batch = replies;
  replies = [];
  if (batch.length > 0) port?.postMessage(batch);
}
function answer(reply: Record<string, unknown>): void {
  if (replies.push(reply) === 1) queueMicrotask(sendReplies);
}

function handle(m: IoJob): void {
  if (m.op === 'drop') {
    sessions.delete(m.sid);
    return;
  }
  try {
    answer({ id: m.id, ...job(m) });
  } catch (err) {
    answer({ id: m.id, error: message(err), code: (err as NodeJS.ErrnoException | undefined)?.code });
  }
}

const checkpoints = startCheckpoints();
port?.on('message', (m: IoJob | IoJob[] | 'stop') => {
  if (m === 'stop') {
    if (checkpoints) {
      clearInterval(checkpoints.timer);
      checkpoints.db.close();
    }
    sendReplies();
    port.close();
    return;
  }
  for (const one of Array.isArray(m) ? m : [m]) handle(one);
});
