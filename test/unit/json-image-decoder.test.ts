/**
 * The streaming JSON tokenizer behind `application/json` uploads: for any split of the body into chunks it
 * yields exactly the bytes `Buffer.from(JSON.parse(body).image, 'base64')` would, and refuses what the old
 * whole-body path (JSON.parse, then a base64 check) refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSpoolError } from '../../src/errors.js';
import { JSON_OTHER_BYTES_LIMIT, JsonImageDecoder } from '../../src/http/json-image-decoder.js';

function decode(body: Buffer, cuts: readonly number[] = []): { image: Buffer; members: Record<string, unknown>; seen: boolean } {
  const parts: Buffer[] = [];
  const members: Record<string, unknown> = {};
  const decoder = new JsonImageDecoder({ image: (b) => parts.push(b), member: (name, value) => { members[name] = value; } });
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    decoder.write(body.subarray(at, cut));
    at = cut;
  }
  decoder.write(body.subarray(at));
  decoder.end();
  return { image: Buffer.concat(parts), members, seen: decoder.image.seen };
}

function refusal(body: string): string {
  try {
    decode(Buffer.from(body));
  } catch (err) {
    if (isSpoolError(err)) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('JsonImageDecoder', () => {
  it('decodes the image of any body JSON.parse reads, however the body is cut into chunks', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 600 }),
      fc.constantFrom('', ' ', '\n\t '),
      fc.boolean(),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 8 }),
      (bytes, ws, imageFirst, escapeSlashes, rawCuts) => {
        let b64 = Buffer.from(bytes).toString('base64');
        if (escapeSlashes) b64 = b64.replaceAll('/', '\\/').replace(/^A/, '\\u0041'); // PHP's json_encode escapes "/"
        const members = [`"device_id"${ws}:${ws}"cam-1"`, `"image":${ws}"${b64}"`, `"extra":${ws}{"a": [1, "}\\""], "b": null}`, `"n": -1.5e3`];
        if (imageFirst) members.reverse();
        const body = Buffer.from(`${ws}{${ws}${members.join(`${ws},${ws}`)}${ws}}${ws}`);
        const cuts = rawCuts.map((c) => c % (body.length + 1));
        const got = decode(body, cuts);
        const parsed = JSON.parse(body.toString()) as { image: string };
        expect(got.image.equals(Buffer.from(parsed.image, 'base64'))).toBe(true);
        expect(got.members['device_id']).toBe('cam-1');
        expect(got.members['extra']).toEqual({ a: [1, '}"'], b: null });
        expect(got.members['n']).toBe(-1500);
      },
    ), { numRuns: 300, seed: 20261207 });
  });

  it('decodes one byte at a time (escapes and padding cut anywhere)', () => {
    const body = Buffer.from('{"image":"\\/w\\u0041=","device_id":"x"}');
    const cuts = Array.from({ length: body.length }, (_, i) => i);
    expect(decode(body, cuts).image.equals(Buffer.from('/wA=', 'base64'))).toBe(true);
  });

  it('refuses what is not one object with a standard base64 "image", with the code the whole-body path gave', () => {
    const cases: Array<[string, string]> = [
      ['', 'invalid_request'],
      ['[]', 'invalid_request'],
      ['"x"', 'invalid_request'],
      ['{"image": "QQ=="', 'invalid_request'],
      ['{"image": "QQ=="} x', 'invalid_request'],
      ['{"image": "QQ==",}', 'invalid_request'],
      ['{"image" "QQ=="}', 'invalid_request'],
      ['{"image": "QQ==", "a": tru}', 'invalid_request'],
      ['{"image": 12}', 'missing_image'],
      ['{"image": null}', 'missing_image'],
      ['{"image": "QQ==", "image": "QQ=="}', 'invalid_request'],
      ['{"image": "QQ=" }', 'invalid_request'],
      ['{"image": "Q===" }', 'invalid_request'],
      ['{"image": "QQ==QQ==" }', 'invalid_request'],
      ['{"image": "QQ\\n==" }', 'invalid_request'],
      ['{"image": "QQ Q=" }', 'invalid_request'],
      ['{"image": "QQ\\u0022=" }', 'invalid_request'],
      ['{"image": "Q-_Q" }', 'invalid_request'],
      [`{"image": "QQ==", "x": "${'a'.repeat(JSON_OTHER_BYTES_LIMIT)}"}`, 'invalid_request'],
      ['{"image": "QQ==", "device_id": "cam-1"}', 'accepted'],
      ['{}', 'accepted'], // no image: the caller answers missing_image
    ];
    for (const [body, code] of cases) expect([body.slice(0, 60), refusal(body)]).toEqual([body.slice(0, 60), code]);
  });

  it('holds no more than a chunk of the image: 8 MB of base64 in 64 KiB chunks come out as they go in', () => {
    const image = Buffer.alloc(6 * 1024 * 1024, 7);
    const body = Buffer.from(`{"device_id":"cam-1","image":"${image.toString('base64')}"}`);
    let largest = 0;
    let total = 0;
    const decoder = new JsonImageDecoder({ image: (b) => { largest = Math.max(largest, b.length); total += b.length; }, member: () => undefined });
    for (let at = 0; at < body.length; at += 65_536) decoder.write(body.subarray(at, at + 65_536));
    decoder.end();
    expect(total).toBe(image.length);
    expect(largest).toBeLessThanOrEqual(49_152);
  });
});
