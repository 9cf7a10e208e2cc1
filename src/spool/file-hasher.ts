import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { StagingBlock } from './staging.js';

/** The SHA-256 and length of a file's bytes, as read back from the file. */
export interface FileDigest {
  sha256: string;
  bytes: number;
  /** Base64 MD5 of the same bytes, when asked for (DigestOptions.md5). */
  md5?: string;
}

export interface DigestOptions {
  /**
   * Also the MD5, in the same read: a single-request upload sends it as Content-MD5 (src/s3/put-image.ts),
   * and the uploader's check before sending is the read that can give it without reading the file again.
   */
  md5?: boolean;
}

/**
 * The SHA-256 of a file written block by block from the staging pool (O_DIRECT writes leave nothing in the
 * page cache to read back cheaply, so the blocks are hashed as they are written).
 */
export interface HashSession {
  /** Hashes the first `length` bytes of `block`; resolves once the block may be reused. In file order. */
  update(block: StagingBlock, length: number): Promise<void>;
  /** The hex SHA-256 of every byte given to update(). */
  finish(): Promise<string>;
  /** The file will not be kept: forget the session. */
  abort(): void;
}

export interface FileHasher {
  digest(path: string, o?: DigestOptions): Promise<FileDigest>;
  /** A session for the file at `path` (read back whole if the session's state is lost, e.g. a dead thread). */
  session(path: string): HashSession;
}

/** Reads the file back on the calling thread (SpoolStore's default; the service hashes on its I/O thread). */
export async function digestInline(path: string, o: DigestOptions = {}): Promise<FileDigest> {
  const hash = createHash('sha256');
  const md5 = o.md5 ? createHash('md5') : null;
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
    hash.update(chunk as Buffer);
    md5?.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes, ...(md5 ? { md5: md5.digest('base64') } : {}) };
}

/** Hashes on the calling thread as the blocks are written. */
export function inlineSession(): HashSession {
  const hash = createHash('sha256');
  return {
    update: (block, length) => {
      hash.update(block.buf.subarray(0, length));
      return Promise.resolve();
    },
    finish: () => Promise.resolve(hash.digest('hex')),
    abort: () => undefined,
  };
}

export const inlineHasher: FileHasher = { digest: digestInline, session: inlineSession };
