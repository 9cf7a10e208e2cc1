import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SpoolFileSink } from '../../src/spool/file-sink.js';

/** A file that takes at most `cap` bytes per call (a full or busy disk may write short), recording every call. */
function shortWritingFile(cap: number): { handle: FileHandle; written: () => Buffer; calls: number[] } {
  const parts: Buffer[] = [];
  const calls: number[] = [];
  const take = (buffers: Buffer[]): { bytesWritten: number } => {
    const all = Buffer.concat(buffers);
    const n = Math.min(cap, all.length);
    parts.push(all.subarray(0, n));
    calls.push(n);
    return { bytesWritten: n };
  };
  const handle = {
    write: async (b: Buffer) => take([b]),
    writev: async (bs: Buffer[]) => take(bs),
  } as unknown as FileHandle;
  return { handle, written: () => Buffer.concat(parts), calls };
}

function jpegChunks(total: number, chunk: number): Buffer[] {
  const body = randomBytes(total);
  body.set([0xff, 0xd8, 0xff, 0xe0], 0);
  const out: Buffer[] = [];
  for (let i = 0; i < total; i += chunk) out.push(body.subarray(i, i + chunk));
  return out;
}

describe('SpoolFileSink', () => {
  it('writes every byte in order through short writes, gathering chunks into few writes', async () => {
    const chunks = jpegChunks(300_000, 7_000);
    const file = shortWritingFile(50_000);
    const sink = new SpoolFileSink(file.handle, 1_000_000, 64 * 1024);
    for (const c of chunks) await sink.write(c);
    const result = await sink.end();
    const body = Buffer.concat(chunks);
    expect(file.written().equals(body)).toBe(true);
    expect(result).toEqual({ bytes: 300_000, format: expect.objectContaining({ name: 'jpeg' }) });
    // 43 chunks of 7 kB leave in writes of at most 50 kB (short), never one call per chunk.
    expect(file.calls.length).toBeLessThan(chunks.length / 2);
  });

  it('refuses a body over the limit, a non-image and an empty body; a write of nothing is a full disk', async () => {
    const all = async (sink: SpoolFileSink, chunks: Buffer[]): Promise<unknown> => {
      for (const c of chunks) await sink.write(c);
      return sink.end();
    };
    await expect(all(new SpoolFileSink(shortWritingFile(1e9).handle, 10_000, 1024), jpegChunks(20_000, 4_000))).rejects.toMatchObject({ code: 'image_too_large' });
    await expect(all(new SpoolFileSink(shortWritingFile(1e9).handle, 10_000, 1024), [Buffer.from('plain text, not an image')])).rejects.toMatchObject({ code: 'not_an_image' });
    await expect(all(new SpoolFileSink(shortWritingFile(1e9).handle, 10_000, 1024), [])).rejects.toMatchObject({ code: 'missing_image' });
    await expect(all(new SpoolFileSink(shortWritingFile(0).handle, 10_000, 1024), jpegChunks(5_000, 1_000))).rejects.toMatchObject({ code: 'ENOSPC' });
  });
});
