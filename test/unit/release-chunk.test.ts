import { describe, expect, it } from 'vitest';
import { canReleaseChunks, releaseChunk } from '../../src/spool/release-chunk.js';

describe('releaseChunk', () => {
  it('detaches a chunk that is the whole of its ArrayBuffer, so its memory is freed at once', () => {
    expect(canReleaseChunks).toBe(true);
    const chunk = Buffer.allocUnsafeSlow(65_536).fill(7);
    expect(releaseChunk(chunk)).toBe(true);
    expect([chunk.length, chunk.buffer.byteLength]).toEqual([0, 0]);
  });

  it('leaves alone what other views may share: pooled buffers, slices, a WebAssembly memory, the empty buffer', () => {
    const pooled = Buffer.from('device_1'); // from Node's 8 KiB pool, shared with other small buffers
    const whole = Buffer.allocUnsafeSlow(100_000).fill(3);
    const slices = [whole.subarray(0, 50_000), whole.subarray(1)];
    const wasm = Buffer.from(new WebAssembly.Memory({ initial: 1 }).buffer);
    const empty = Buffer.alloc(0);
    for (const chunk of [pooled, ...slices, wasm, empty]) expect(releaseChunk(chunk)).toBe(false);
    expect(pooled.toString()).toBe('device_1');
    expect(whole.length).toBe(100_000);
    expect(whole.every((b) => b === 3)).toBe(true);
    expect(wasm.length).toBe(65_536);
  });

  it('does not touch a SharedArrayBuffer', () => {
    const chunk = Buffer.from(new SharedArrayBuffer(4096));
    expect(releaseChunk(chunk)).toBe(false);
    expect(chunk.length).toBe(4096);
  });
});
