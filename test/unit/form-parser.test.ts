import { describe, expect, it } from 'vitest';
import { fieldDeviceId, fieldImageBytes, withoutEmptyParameters } from '../../src/http/form-parser.js';

describe('withoutEmptyParameters (Content-Type)', () => {
  it.each([
    // curl 7.88 given `-H "Content-Type: multipart/form-data;"` sends this.
    ['multipart/form-data;; boundary=------------------------46ff98a40f60fd64', 'multipart/form-data; boundary=------------------------46ff98a40f60fd64'],
    ['multipart/form-data; ; boundary=x;', 'multipart/form-data; boundary=x'],
    ['multipart/form-data;boundary=x', 'multipart/form-data; boundary=x'],
    ['multipart/form-data; boundary="a;;b"', 'multipart/form-data; boundary="a;;b"'],
    ['multipart/form-data; boundary="a\\";;b"; charset=utf-8', 'multipart/form-data; boundary="a\\";;b"; charset=utf-8'],
    ['multipart/form-data', 'multipart/form-data'],
  ])('%s -> %s', (input, output) => {
    expect(withoutEmptyParameters(input)).toBe(output);
  });
});

describe('plain form fields as busboy decodes them', () => {
  it('an image field without a charset is its exact bytes (latin1)', () => {
    const bytes = Buffer.from([0xff, 0xd8, 0xff, 0x00, 0x80, 0xfe]);
    expect(fieldImageBytes(bytes.toString('latin1')).equals(bytes)).toBe(true);
  });

  it('refuses what busboy could not decode (undefined) or decoded beyond latin1, as 415', () => {
    expect(() => fieldImageBytes(undefined)).toThrow(expect.objectContaining({ code: 'unsupported_media_type', status: 415 }));
    expect(() => fieldImageBytes('caf\u00e9 \u20ac')).toThrow(expect.objectContaining({ code: 'unsupported_media_type' }));
    expect(() => fieldDeviceId(undefined)).toThrow(expect.objectContaining({ code: 'invalid_device_id', status: 400 }));
    expect(fieldDeviceId('cam-1')).toBe('cam-1');
  });
});
