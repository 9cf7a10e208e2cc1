/**
 * The code of the I/O thread (CommonJS, inline so it runs the same from src/ under vitest and from dist/).
 *
 * - `{ op: 'digest', id, path }`: SHA-256 and length of a file, read with one reused buffer and blocking
 *   reads (the thread has nothing else to do, and the thread pool stays free for the spool's writes and fsyncs).
 * - Hash sessions over `workerData.staging` (a shared WebAssembly.Memory): `{ op: 'update', id, sid, offset,
 *   length }` hashes those bytes in place and answers `{ id }` once the block may be reused; `{ op: 'final',
 *   id, sid }` answers `{ id, sha256 }`; `{ op: 'drop', sid }` forgets the session (no answer).
 * - With `workerData.checkpoint`: its own ledger connection copies the WAL into the database with PASSIVE
 *   checkpoints, which never wait for and never block the service's writes. When every frame is copied and
 *   the file is over `truncateAboveBytes` (a reader had pinned it), a TRUNCATE checkpoint empties it. That one
 *   takes the write lock for its length (a few ms: the PASSIVE pass copied nearly everything), and never
 *   waits for it (busy_timeout 0): a busy ledger is tried again next interval, and the service's writes that
 *   meet it retry on timers. Each pass is answered `{ checkpointPass: { walBytes, frames, checkpointed,
 *   truncated } }`. Failures are reported; if the ledger cannot be opened, only this role ends.
 * - `'stop'`: closes the ledger connection and the port.
 *
 * Jobs arrive in arrays and each array is answered with one array.
 */
export const IO_THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync, statSync } = require('node:fs');

const buffer = Buffer.allocUnsafe(1 << 20);
function digest(path) {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0;) {
      hash.update(buffer.subarray(0, n));
      bytes += n;
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    closeSync(fd);
  }
}

const sessions = new Map();
function sessionHash(sid) {
  let hash = sessions.get(sid);
  if (!hash) {
    hash = createHash('sha256');
    sessions.set(sid, hash);
  }
  return hash;
}
function job(m) {
  switch (m.op) {
    case 'digest': return digest(m.path);
    case 'update':
      // .buffer is read each time: the memory grows, and an older buffer object keeps its old length.
      sessionHash(m.sid).update(new Uint8Array(workerData.staging.buffer, m.offset, m.length));
      return {};
    case 'final': {
      const sha256 = sessionHash(m.sid).digest('hex');
      sessions.delete(m.sid);
      return { sha256 };
    }
    default: throw new Error('unknown job ' + m.op);
  }
}

function walBytes(file) {
  try { return statSync(file + '-wal').size; } catch (err) { return 0; }
}
function checkpoint(db, cp) {
  const [pass] = db.pragma('wal_checkpoint(PASSIVE)');
  let truncated = false;
  if (pass.busy === 0 && pass.checkpointed === pass.log && walBytes(cp.file) > cp.truncateAboveBytes) {
    const [full] = db.pragma('wal_checkpoint(TRUNCATE)');
    truncated = full.busy === 0;
  }
  return { walBytes: walBytes(cp.file), frames: pass.log, checkpointed: pass.checkpointed, truncated };
}

let db = null;
let timer = null;
const cp = workerData && workerData.checkpoint;
if (cp) {
  try {
    const Database = require(cp.driver);
    db = new Database(cp.file, { fileMustExist: true });
    db.pragma('busy_timeout = 0');
    db.pragma('synchronous = FULL');
    timer = setInterval(() => {
      try { parentPort.postMessage({ checkpointPass: checkpoint(db, cp) }); } catch (err) { parentPort.postMessage({ checkpointError: String(err && err.message) }); }
    }, cp.intervalMs);
  } catch (err) {
    parentPort.postMessage({ checkpointFailed: String(err && err.message) });
  }
}

let replies = [];
function sendReplies() {
  const batch = replies;
  replies = [];
  if (batch.length > 0) parentPort.postMessage(batch);
}
function answer(reply) {
  if (replies.push(reply) === 1) queueMicrotask(sendReplies);
}

function handle(m) {
  if (m.op === 'drop') {
    sessions.delete(m.sid);
    return;
  }
  try {
    answer({ id: m.id, ...job(m) });
  } catch (err) {
    answer({ id: m.id, error: String(err && err.message), code: err && err.code });
  }
}

parentPort.on('message', (m) => {
  if (m === 'stop') {
    if (timer) clearInterval(timer);
    if (db) db.close();
    sendReplies();
    parentPort.close();
    return;
  }
  for (const one of Array.isArray(m) ? m : [m]) handle(one);
});
`;
