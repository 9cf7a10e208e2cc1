import { describe, expect, it } from 'vitest';
import { formatRate, parseRate } from '../../src/throttle/rate.js';

describe('parseRate', () => {
  it.each([
    ['100Mbit', 12_500_000],
    ['100mbit', 12_500_000],
    ['100Mbit/s', 12_500_000],
    ['1.5Gbit', 187_500_000],
    ['800kbit', 100_000],
    ['12.5MB', 12_500_000],
    ['5MB', 5_000_000],
    ['512KiB', 524_288],
    ['2MiB', 2_097_152],
    ['1GB', 1e9],
    [' 64 KB ', 64_000],
  ])('%s is %d bytes/s', (input, bytes) => {
    expect(parseRate(input)).toBe(bytes);
  });

  it('treats off as unlimited', () => {
    expect(parseRate('off')).toBe(Infinity);
    expect(parseRate('OFF')).toBe(Infinity);
  });

  it.each(['100', 'fast', '10 parsecs', '-5MB', '0MB', '5Mb', ''])('refuses %j naming the token', (input) => {
    expect(() => parseRate(input)).toThrow(`invalid rate "${input}"`);
  });

  it('formats rates for logs', () => {
    expect(formatRate(12_500_000)).toBe('100Mbit/s');
    expect(formatRate(Infinity)).toBe('off');
    expect(formatRate(100_000)).toBe('800kbit/s');
  });
});
