import { createRequire } from 'node:module';
import busboy from 'busboy';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { patchSearch, useNativeBoundarySearch } from '../../src/http/boundary-search.js';

type Callback = (isMatch: boolean, data: Buffer | undefined, start: number, end: number, isDataSafe: boolean) => void;
interface Search { push(chunk: Buffer, pos?: number): number; destroy(): void }
// busboy's own dependency, the code being replaced: the reference for every comparison.
const StreamSearch = createRequire(createRequire(import.meta.url).resolve('busboy'))('streamsearch') as new (needle: string, cb: Callback) => Search;

/** Every callback, with a copy of the bytes it was given (the lookbehind buffer is reused). */
function run(needle: string, chunks: Buffer[], patched: boolean): string[] {
  const events: string[] = [];
  const search = new StreamSearch(needle, (isMatch, data, start, end, safe) => {
    events.push(`${isMatch ? 'M' : 'd'}${safe ? 's' : 'u'}:${data ? data.subarray(start, end).toString('latin1') : '-'}`);
  });
  if (patched) patchSearch(search as unknown as Parameters<typeof patchSearch>[0]);
  for (const c of chunks) search.push(c, 0);
  search.destroy();
  return events;
}

/** Cuts `body` at the given points (sorted, deduplicated). */
function cut(body: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (body.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...at, body.length]) {
    if (p > from) out.push(body.subarray(from, p));
    from = p;
  }
  return out;
}

const NEEDLE = '\r\n--XyZ0123456789boundary';
// Bodies built from pieces that look like the boundary, its prefixes and near misses, and plain bytes.
const piece = fc.oneof(
  fc.constant(NEEDLE), fc.constant(NEEDLE.slice(0, 3)), fc.constant(NEEDLE.slice(0, 10)), fc.constant(NEEDLE.slice(0, -1)),
  fc.constant('\r\n-'), fc.constant('\r\r\n--'), fc.constant(`${NEEDLE.slice(0, -1)}X`),
  fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a).toString('latin1')),
);

describe('native boundary search (src/http/boundary-search.ts)', () => {
  it('calls back exactly as streamsearch does, for any body cut at any places', () => {
    fc.assert(fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 12 }), (pieces, points) => {
      const body = Buffer.from(pieces.join(''), 'latin1');
      const chunks = cut(body, points);
      expect(run(NEEDLE, chunks, true)).toEqual(run(NEEDLE, chunks, false));
    }), { numRuns: 3000 });
  });

  it('calls back exactly as streamsearch does over a 4 MB image in socket-sized chunks', () => {
    const image = Buffer.alloc(4_000_000);
    for (let i = 0; i < image.length; i++) image[i] = (i * 7919) % 251;
    image.write(NEEDLE.slice(0, -2), 1_000_000, 'latin1'); // a near miss inside the image
    const body = Buffer.concat([Buffer.from('preamble'), image, Buffer.from(`${NEEDLE}--\r\n`)]);
    const chunks = cut(body, Array.from({ length: 70 }, (_, i) => i * 65_536 + (i % 3)));
    const patched = run(NEEDLE, chunks, true);
    expect(patched).toEqual(run(NEEDLE, chunks, false));
    expect(patched.filter((e) => e.startsWith('M'))).toHaveLength(1);
  });

  it('takes hold of the installed busboy, which then parses a form as before', async () => {
    const boundary = 'XyZ0123456789boundary';
    const form = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ncam-1\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n\r\n--${boundary.slice(0, -1)}\r\n\r\n--${boundary}--\r\n`);
    const parse = (patch: boolean): Promise<string[]> => new Promise((resolve, reject) => {
      const parser = busboy({ headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
      if (patch) expect(useNativeBoundarySearch(parser)).toBe(true);
      const out: string[] = [];
      parser.on('field', (name, value) => out.push(`field ${name}=${value}`));
      parser.on('file', (name, stream) => {
        const parts: Buffer[] = [];
        stream.on('data', (c: Buffer) => parts.push(c));
        stream.on('end', () => out.push(`file ${name}=${JSON.stringify(Buffer.concat(parts).toString('latin1'))}`));
      });
      parser.on('close', () => resolve(out));
      parser.on('error', reject);
      for (let i = 0; i < form.length; i += 7) parser.write(form.subarray(i, i + 7));
      parser.end();
    });
    const patched = await parse(true);
    expect(patched).toEqual(await parse(false));
    expect(patched).toEqual(['field device_id=cam-1', `file image=${JSON.stringify(`\r\n--${boundary.slice(0, -1)}\r\n`)}`]);
  });

  it('leaves anything that is not a streamsearch parser alone', () => {
    expect(useNativeBoundarySearch({})).toBe(false);
    expect(useNativeBoundarySearch(null)).toBe(false);
    expect(useNativeBoundarySearch({ _bparser: { push: () => 0 } })).toBe(false);
  });
});
