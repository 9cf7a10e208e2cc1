import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: timing-sensitive tests (throttle, crash cycles) run one file at a time.
    fileParallelism: false,
    reporters: ['default'],
    // `npx vitest run --tags-filter any-s3`: the contract every S3 server must pass (test/any-s3/), on each target.
    tags: [{ name: 'any-s3', description: 'the any-S3-server contract: s3rver and Ceph RGW (test/any-s3/)' }],
  },
});
