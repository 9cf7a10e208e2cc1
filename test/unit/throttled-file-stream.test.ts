import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { throttledFileStream } from '../../src/throttle/throttled-file-stream.js';
import { TokenBucket } from '../../src/throttle/token-bucket.js';
import { fakeJpeg, sha256Hex } from '../helpers/images.js';

async function drain(stream: NodeJS.ReadableStream): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) bytes += chunk.length;
    return { bytes, error: null };
  } catch (error) {
    return { bytes, error };
  }
}

describe('throttledFileStream', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const setup = async (size: number) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tfs-'));
    dirs.push(dir);
    const file = path.join(dir, 'img.jpg');
    const data = fakeJpeg(size);
    await writeFile(file, data);
    return { file, data };
  };

  it('delivers the whole file through the bucket, every byte granted', async () => {
    const { file, data } = await setup(300_000);
    const bucket = new TokenBucket({ rate: Infinity });
    const result = await drain(throttledFileStream({ path: file, expectedBytes: data.length, expectedSha256Hex: sha256Hex(data), bucket, signal: new AbortController().signal }));
    expect(result).toEqual({ bytes: data.length, error: null });
  });

  it('survives a rate drop that shrinks the chunk below pieces already cut (the held-back tail included)', async () => {
    const { file, data } = await setup(60_000);
    // 1 MB/s with a 100 ms burst: 16 KiB chunks, so the file is cut into pieces of 16,384 bytes. After the
    // first piece the rate drops to 50 kB/s: the chunk is now 2,500 bytes, smaller than every piece left.
    const bucket = new TokenBucket({ rate: 1_000_000, burstMs: 100 });
    expect(bucket.chunkBytes).toBe(16_384);
    const stream = throttledFileStream({
      path: file, expectedBytes: data.length, expectedSha256Hex: sha256Hex(data), bucket, signal: new AbortController().signal,
      onProgress: () => bucket.setRate(50_000),
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    expect(bucket.chunkBytes).toBe(2_500);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it('holds back the last chunk and fails when the file does not match the ledger', async () => {
    const { file, data } = await setup(300_000);
    const bucket = new TokenBucket({ rate: Infinity });
    const result = await drain(throttledFileStream({ path: file, expectedBytes: data.length, expectedSha256Hex: '00'.repeat(32), bucket, signal: new AbortController().signal }));
    expect(result.bytes).toBeLessThan(data.length);
    expect(result.error).toMatchObject({ code: 'spool_file_corrupt' });
  });

  it('sends a probe train as one piece at the end, after the hash check, and reports when it left', async () => {
    const { file, data } = await setup(300_000);
    const bucket = new TokenBucket({ rate: 50_000_000, burstMs: 5 });
    const chunks: Buffer[] = [];
    const lastBytes: number[] = [];
    const stream = throttledFileStream({
      path: file, expectedBytes: data.length, expectedSha256Hex: sha256Hex(data), bucket, signal: new AbortController().signal,
      trainBytes: 100_000, onLastBytes: (_at, bytes) => lastBytes.push(bytes),
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    const last = chunks.at(-1) as Buffer;
    expect(last.length).toBeGreaterThanOrEqual(100_000);
    expect(last.length).toBeLessThan(100_000 + bucket.chunkBytes);
    expect(chunks.slice(0, -1).every((c) => c.length <= bucket.chunkBytes)).toBe(true);
    expect(lastBytes).toEqual([last.length]);
  });

  it('never releases a probe train of a corrupt file', async () => {
    const { file, data } = await setup(300_000);
    const bucket = new TokenBucket({ rate: Infinity });
    const result = await drain(throttledFileStream({ path: file, expectedBytes: data.length, expectedSha256Hex: '00'.repeat(32), bucket, signal: new AbortController().signal, trainBytes: 100_000 }));
    expect(result.bytes).toBeLessThanOrEqual(data.length - 100_000);
    expect(result.error).toMatchObject({ code: 'spool_file_corrupt' });
  });

  it('reports a missing file with a stable code', async () => {
    const bucket = new TokenBucket({ rate: Infinity });
    const result = await drain(throttledFileStream({ path: '/nonexistent/x.jpg', expectedBytes: 1, expectedSha256Hex: '00', bucket, signal: new AbortController().signal }));
    expect(result.error).toMatchObject({ code: 'spool_file_missing' });
  });

  it('releases bytes at the bucket rate', async () => {
    const { file, data } = await setup(200_000);
    const bucket = new TokenBucket({ rate: 1_000_000 });
    const started = performance.now();
    await drain(throttledFileStream({ path: file, expectedBytes: data.length, expectedSha256Hex: sha256Hex(data), bucket, signal: new AbortController().signal }));
    const seconds = (performance.now() - started) / 1000;
    // 200 kB at 1 MB/s minus one 10 ms burst: at least ~0.18 s (a loose bound: it only proves throttling happens).
    expect(seconds).toBeGreaterThan(0.17);
    expect(bucket.granted).toBe(data.length);
  });
});
