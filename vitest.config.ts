import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: timing-sensitive tests (throttle, crash cycles) run one file at a time.
    fileParallelism: false,
    reporters: ['default'],
  },
});
