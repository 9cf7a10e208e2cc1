import { SpoolError, errnoCode } from '../errors.js';
import { digestInline, type FileDigest } from './file-hasher.js';

/**
 * Re-reads a spooled file and checks it against the ledger before any byte goes to S3. The upload
 * stream checks again while sending, but some S3-compatible servers (s3rver among them) keep a
 * truncated object when a request is aborted, so a corrupt file must be caught before the first byte.
 * Reading a 4 MB file from disk costs milliseconds; sending it costs a third of a second of uplink.
 * Returns what it read (with the MD5 when `digest` gives one), so the upload need not read it again.
 */
export async function verifySpooledFile(path: string, bytes: number, sha256Hex: string,
  digest: (path: string) => Promise<FileDigest> = digestInline): Promise<FileDigest> {
  let found: FileDigest;
  try {
    found = await digest(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new SpoolError('spool_file_missing', `spooled file ${path} is missing`, { cause: err });
    throw err;
  }
  if (found.bytes !== bytes || found.sha256 !== sha256Hex) {
    throw new SpoolError('spool_file_corrupt', `spooled file ${path} has ${found.bytes} bytes sha256 ${found.sha256}, ledger says ${bytes} bytes sha256 ${sha256Hex}`);
  }
  return found;
}
