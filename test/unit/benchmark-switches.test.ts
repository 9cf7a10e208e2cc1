import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('benchmark-only switches (BENCH_*)', () => {
  it('are off, and null, in any normal environment', () => {
    expect(loadConfig({}).benchmark).toBeNull();
    expect(loadConfig({ NODE_ENV: 'production' }).benchmark).toBeNull();
    expect(loadConfig({ NODE_ENV: 'benchmark' }).benchmark).toBeNull();
  });

  it('stop startup when set without NODE_ENV=benchmark, naming each variable', () => {
    expect(() => loadConfig({ BENCH_UNSAFE_NO_FSYNC: 'true' })).toThrow(/BENCH_UNSAFE_NO_FSYNC is a benchmark-only switch, refused unless NODE_ENV=benchmark/);
    expect(() => loadConfig({ NODE_ENV: 'production', BENCH_COMMIT_BATCH_MAX: '1' })).toThrow(/BENCH_COMMIT_BATCH_MAX is a benchmark-only switch/);
    expect(() => loadConfig({ BENCH_UNSAFE_NO_FSYNC: 'false', BENCH_COMMIT_BATCH_MAX: '1' }))
      .toThrow(/BENCH_UNSAFE_NO_FSYNC and BENCH_COMMIT_BATCH_MAX are benchmark-only switches/);
  });

  it('take effect with NODE_ENV=benchmark, validated like any variable', () => {
    expect(loadConfig({ NODE_ENV: 'benchmark', BENCH_UNSAFE_NO_FSYNC: 'true' }).benchmark).toEqual({ noFsync: true, commitBatchMax: Number.MAX_SAFE_INTEGER });
    expect(loadConfig({ NODE_ENV: 'benchmark', BENCH_COMMIT_BATCH_MAX: '1' }).benchmark).toEqual({ noFsync: false, commitBatchMax: 1 });
    expect(() => loadConfig({ NODE_ENV: 'benchmark', BENCH_COMMIT_BATCH_MAX: '0' })).toThrow(/invalid BENCH_COMMIT_BATCH_MAX="0"/);
    expect(() => loadConfig({ NODE_ENV: 'benchmark', BENCH_UNSAFE_NO_FSYNC: 'maybe' })).toThrow(/invalid BENCH_UNSAFE_NO_FSYNC="maybe"/);
  });

  it('INGEST_READ_SLOTS defaults to 16 and is validated', () => {
    expect(loadConfig({}).ingestReadSlots).toBe(16);
    expect(loadConfig({ INGEST_READ_SLOTS: '4' }).ingestReadSlots).toBe(4);
    expect(() => loadConfig({ INGEST_READ_SLOTS: '0' })).toThrow(/invalid INGEST_READ_SLOTS="0"/);
  });
});
