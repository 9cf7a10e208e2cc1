/**
 * Parses operator-facing rates such as `100Mbit`, `12.5MB`, `512KiB/s` or `off` into bytes per second.
 * Units are mandatory: a bare number is ambiguous between bits and bytes, and guessing wrong is 8x.
 */
const BIT_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
const BYTE_UNITS: Record<string, number> = {
  B: 1, KB: 1e3, kB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3,
};

/** `Infinity` means unlimited (`off`). */
export type BytesPerSecond = number;

export class RateParseError extends Error {
  constructor(readonly token: string, reason: string) {
    super(`invalid rate "${token}": ${reason}`);
    this.name = 'RateParseError';
  }
}

export function parseRate(input: string): BytesPerSecond {
  const token = input.trim();
  if (token.toLowerCase() === 'off') return Infinity;
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z]+)(?:\/s)?$/.exec(token);
  if (!match) {
    throw new RateParseError(input, 'expected a number with a unit, e.g. 100Mbit, 12.5MB, 512KiB, or off');
  }
  const value = Number(match[1]);
  const unit = match[2] as string;
  const bitFactor = BIT_UNITS[unit.toLowerCase()];
  const byteFactor = BYTE_UNITS[unit];
  let bytes: number;
  if (bitFactor !== undefined) bytes = (value * bitFactor) / 8;
  else if (byteFactor !== undefined) bytes = value * byteFactor;
  else throw new RateParseError(input, `unknown unit "${unit}" (bits: kbit, Mbit, Gbit; bytes: B, KB, MB, GB, KiB, MiB, GiB)`);
  if (!(bytes >= 1)) throw new RateParseError(input, 'must be at least 1 byte per second, or off');
  return bytes;
}

export function formatRate(bytesPerSec: BytesPerSecond): string {
  if (!Number.isFinite(bytesPerSec)) return 'off';
  const mbit = (bytesPerSec * 8) / 1e6;
  return mbit >= 1 ? `${round(mbit)}Mbit/s` : `${round(mbit * 1000)}kbit/s`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
