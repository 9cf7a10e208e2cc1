import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/**
 * The Content-MD5 header (base64) of `bytes` bytes of a file from `start`. Some S3-compatible servers ignore
 * `x-amz-checksum-sha256` but check Content-MD5 (Ceph RGW 16: 400 BadDigest), so it is sent with every PUT
 * and part: bytes changed on the wire are refused by every kind of server that checks anything. It must be
 * in the headers, before the body, hence a read of its own (from the page cache: the uploader has just
 * verified the file) in 256 KiB slices, each well under a millisecond of the event loop.
 */
export async function contentMd5(path: string, start: number, bytes: number): Promise<string> {
  const md5 = createHash('md5');
  if (bytes > 0) {
    for await (const chunk of createReadStream(path, { start, end: start + bytes - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      md5.update(chunk);
    }
  }
  return md5.digest('base64');
}
