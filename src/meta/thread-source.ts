import { DIMENSION_FUNCTIONS } from './dimensions.js';
import { TAG_FUNCTIONS } from './extract.js';

/**
 * The code of a metadata thread: CommonJS, run with `eval: true`, as the I/O thread's (src/background/).
 * Node 20 cannot start a worker from a .ts file, and under vitest the modules are TypeScript, so no file path
 * would work both from src/ (tests) and dist/ (production). The extraction functions are therefore taken
 * from their modules as source text (`String(fn)`: tsc's output in dist/, vite's transform under vitest,
 * both plain JavaScript), so the thread runs exactly the code `extractMetadata` runs, without a copy.
 * The rule that makes this safe is stated in those modules: they call only each other and globals.
 *
 * workerData: `exifr` (the resolved path of the package's CommonJS build), `options` (exifr's options: one
 * object for the thread's life, since exifr caches per options object), `headBytes`.
 * Messages: in `{ id, path, fd, format }` (fd: the file already open, or null), one at a time; out `{ ready: true }` once, then per job
 * `{ id, metadata }`, `{ id, unreadable }` (the file could not be read) or `{ id, error }`.
 */
const MAIN = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { openSync, readSync, closeSync } = require('node:fs');
const exifr = require(workerData.exifr);
const options = workerData.options;
const buffer = Buffer.allocUnsafe(workerData.headBytes);

function readHead(job) {
  if (job.fd !== null) return buffer.subarray(0, readSync(job.fd, buffer, 0, buffer.length, 0)); // the caller closes it
  const fd = openSync(job.path, 'r');
  try {
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, 0));
  } finally {
    closeSync(fd);
  }
}

async function readTags(head) {
  try {
    return (await exifr.parse(head, options)) || {};
  } catch {
    return {}; // corrupt metadata: nulls, as on the calling thread
  }
}

async function extract(job) {
  let head;
  try {
    head = readHead(job);
  } catch (err) {
    return { id: job.id, unreadable: String(err && err.message) };
  }
  return { id: job.id, metadata: metadataFromTags(await readTags(head), headerDimensions(job.format, head)) };
}

parentPort.on('message', (job) => {
  extract(job).then(
    (reply) => parentPort.postMessage(reply),
    (err) => parentPort.postMessage({ id: job.id, error: String(err && err.message) }),
  );
});
parentPort.postMessage({ ready: true });
`;

export function metadataThreadSource(): string {
  const functions = [...DIMENSION_FUNCTIONS, ...TAG_FUNCTIONS];
  const names = new Set(functions.map((fn) => fn.name));
  // Two declarations of one name in one script: the last would silently win.
  if (names.size !== functions.length) throw new Error(`metadata thread functions must have distinct names: ${functions.map((fn) => fn.name).join(', ')}`);
  return [MAIN, ...functions.map((fn) => String(fn))].join('\n');
}
