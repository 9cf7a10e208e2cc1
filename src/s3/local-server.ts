import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';
import type { Logger } from '../log.js';

export interface LocalS3 {
  port: number;
  close(): Promise<void>;
}

/**
 * The embedded S3-compatible target used when no S3_BUCKET is configured, so `npm start` on a fresh
 * machine runs the whole path end to end. It is a development convenience, not a destination: the log
 * says so loudly.
 */
export async function startLocalS3(options: { port: number; dataDir: string; bucket: string; log: Logger }): Promise<LocalS3> {
  await mkdir(options.dataDir, { recursive: true });
  const server = new S3rver({
    port: options.port,
    address: '127.0.0.1',
    silent: true,
    directory: options.dataDir,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  const info = await server.run();
  options.log.warn(
    { local_s3: `http://127.0.0.1:${info.port}`, bucket: options.bucket, data_dir: options.dataDir },
    'NO S3_BUCKET CONFIGURED: uploading to an EMBEDDED LOCAL S3-compatible server (development only). Set S3_BUCKET for a real bucket.',
  );
  return { port: info.port, close: () => server.close() };
}
