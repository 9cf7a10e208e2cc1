import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Frees a body chunk's memory as soon as it has been copied into a staging block, instead of at V8's next
 * garbage collection. Node's HTTP parser copies every body chunk into a fresh malloc'd buffer; once copied
 * into a block, ~600 MB of such chunks per 150-upload burst are garbage, freed only when a collection reaches
 * them. Under 150 concurrent 4 MB uploads that garbage was most of the service's peak RSS above idle:
 * VmHWM 136.6 MB against 202.0 MB without this, same run, same throughput (docs/BENCHMARKS.md, issue 7).
 *
 * The means is ES2024's `ArrayBuffer.prototype.transfer(0)`, which detaches the buffer and drops its
 * memory at once. Node 22 has it; Node 20's V8 (11.3) has it staged behind `--harmony-rab-gsab-transfer`,
 * a flag that only decides what a new JavaScript context gets, so it is set here and the method taken from
 * a fresh context (it works on any realm's ArrayBuffer). Where neither exists, nothing is released early
 * and the garbage collector frees chunks as before.
 */
type Transfer = (this: ArrayBuffer, newLength: number) => ArrayBuffer;

function findTransfer(): Transfer | null {
  const own = (ArrayBuffer.prototype as { transfer?: unknown }).transfer;
  if (typeof own === 'function') return own as Transfer;
  try {
    setFlagsFromString('--harmony-rab-gsab-transfer');
    const staged: unknown = runInNewContext('ArrayBuffer.prototype.transfer');
    return typeof staged === 'function' ? (staged as Transfer) : null;
  } catch {
    return null;
  }
}

const transfer = findTransfer();

/** Whether this runtime can release chunks early (tests assert it does on the Node the project pins). */
export const canReleaseChunks = transfer !== null;

/**
 * Releases `chunk`'s memory if the chunk is its ArrayBuffer's only content (byte 0 to the end): then no
 * other view can hold bytes of it, so only a holder of this very chunk could notice, and sinks own the
 * chunks they are given (ImageSink.write). A slice of a larger buffer (Node's 8 KiB pool, a chunk cut at a
 * multipart boundary) is left to the garbage collector. Returns whether it released.
 */
export function releaseChunk(chunk: Buffer): boolean {
  const buffer = chunk.buffer;
  if (transfer === null || !(buffer instanceof ArrayBuffer)) return false;
  if (chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || buffer.byteLength === 0) return false;
  try {
    transfer.call(buffer, 0);
    return true;
  } catch {
    return false; // not detachable (e.g. a WebAssembly memory's buffer): the collector frees it
  }
}
