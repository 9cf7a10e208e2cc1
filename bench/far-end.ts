/**
 * The far side of an emulated uplink (bench/netns-link.ts): run inside the network namespace, it starts
 * s3rver on the namespace's loopback and a delay line in front of it on the link address, then prints
 * `{"port":N}` on stdout and serves until SIGTERM.
 *
 *   node dist/bench/far-end.js <listen address> <one-way delay ms> <data dir> <bucket>
 */
import S3rver from 's3rver';
import { startDelayProxy } from './delay-proxy.js';

async function main(): Promise<void> {
  const [address, delayMs, dir, bucket] = process.argv.slice(2);
  if (!address || !delayMs || !dir || !bucket) throw new Error('usage: far-end.js <address> <one-way ms> <data dir> <bucket>');
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
  const { port: s3Port } = await s3.run();
  const delay = await startDelayProxy(s3Port, Number(delayMs), 8 * 1024 * 1024, address);
  process.stdout.write(`${JSON.stringify({ port: delay.port })}\n`);
  process.once('SIGTERM', () => {
    void delay.close().then(() => s3.close()).finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error('far-end failed:', err);
  process.exit(1);
});
