/**
 * The code of the I/O thread (CommonJS, inline so it runs the same from src/ under vitest and from dist/).
 *
 * - `{ id, path }`: SHA-256 and length of a file, read with one reused buffer and blocking reads (the thread
 *   has nothing else to do, and the thread pool stays free for the spool's writes and fsyncs).
 * - With `workerData.checkpoint`: its own ledger connection copies the WAL into the database with PASSIVE
 *   checkpoints, which never wait for and never block the service's writes. Failures are reported; if the
 *   ledger cannot be opened, only this role ends.
 * - `'stop'`: closes the ledger connection and the port.
 */
export const IO_THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');

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

let db = null;
let timer = null;
const cp = workerData && workerData.checkpoint;
if (cp) {
  try {
    const Database = require(cp.driver);
    db = new Database(cp.file, { fileMustExist: true });
    db.pragma('busy_timeout = 1000');
    db.pragma('synchronous = FULL');
    timer = setInterval(() => {
      try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ checkpointError: String(err && err.message) }); }
    }, cp.intervalMs);
  } catch (err) {
    parentPort.postMessage({ checkpointFailed: String(err && err.message) });
  }
}

parentPort.on('message', (m) => {
  if (m === 'stop') {
    if (timer) clearInterval(timer);
    if (db) db.close();
    parentPort.close();
    return;
  }
  try {
    parentPort.postMessage({ id: m.id, ...digest(m.path) });
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message), code: err && err.code });
  }
});
`;
