import { randomBytes } from 'node:crypto';

/**
 * ULIDs: 48-bit millisecond time + 80 random bits in Crockford base32. They sort by receive time, so the
 * ledger's primary key is also a usable "oldest first" order and file names list chronologically.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newId(nowMs: number = Date.now()): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[(random[i] as number) % 32];
  return time + rand;
}

export const ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
