import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The SHA-256 and length of a file's bytes, as read back from the file. */
export interface FileDigest {
  sha256: string;
  bytes: number;
}

export interface FileHasher {
  digest(path: string): Promise<FileDigest>;
}

/** Reads the file back on the calling thread (SpoolStore's default; the service hashes on its I/O thread). */
export async function digestInline(path: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
