import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { SpoolError, errnoCode } from '../errors.js';

/**
 * Re-reads a spooled file and checks it against the ledger before any byte goes to S3. The upload
 * stream checks again while sending, but some S3-compatible servers (s3rver among them) keep a
 * truncated object when a request is aborted, so a corrupt file must be caught before the first byte.
 * Reading a 4 MB file from disk costs milliseconds; sending it costs a third of a second of uplink.
 */
export async function verifySpooledFile(path: string, bytes: number, sha256Hex: string): Promise<void> {
  const hash = createHash('sha256');
  let read = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      read += chunk.length;
    }
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new SpoolError('spool_file_missing', `spooled file ${path} is missing`, { cause: err });
    throw err;
  }
  const digest = hash.digest('hex');
  if (read !== bytes || digest !== sha256Hex) {
    throw new SpoolError('spool_file_corrupt', `spooled file ${path} has ${read} bytes sha256 ${digest}, ledger says ${bytes} bytes sha256 ${sha256Hex}`);
  }
}
