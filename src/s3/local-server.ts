import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';
import type { Logger } from '../log.js';
import { multipartRoutes } from './local-multipart.js';

export interface LocalS3 {
  port: number;
  close(): Promise<void>;
}

export interface LocalS3Options {
  /** 0 picks a free port. */
  port: number;
  dataDir: string;
  bucket: string;
}

/**
 * An S3-compatible server on 127.0.0.1: s3rver with the multipart calls it lacks (ListParts,
 * AbortMultipartUpload; src/s3/local-multipart.ts), so it answers every call the uploader makes. The tests'
 * S3 server is this one too (test/helpers/s3.ts).
 */
export async function createLocalS3(options: LocalS3Options): Promise<LocalS3> {
  await mkdir(options.dataDir, { recursive: true });
  const server = new S3rver({
    port: options.port,
    address: '127.0.0.1',
    silent: true,
    directory: options.dataDir,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  // First in the chain: s3rver's router answers these two itself (405), so they must be taken before it.
  server.middleware.unshift(multipartRoutes(options.dataDir));
  const info = await server.run();
  return { port: info.port, close: () => server.close() };
}

/**
 * The embedded S3-compatible target used when no S3_BUCKET is configured, so `npm start` on a fresh
 * machine runs the whole path end to end. It is a development convenience, not a destination: the log
 * says so loudly.
 */
export async function startLocalS3(options: LocalS3Options & { log: Logger }): Promise<LocalS3> {
  const local = await createLocalS3(options);
  options.log.warn(
    { local_s3: `http://127.0.0.1:${local.port}`, bucket: options.bucket, data_dir: options.dataDir },
    'NO S3_BUCKET CONFIGURED: uploading to an EMBEDDED LOCAL S3-compatible server (development only). Set S3_BUCKET for a real bucket.',
  );
  return local;
}
