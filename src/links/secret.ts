import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 32 random bytes (256 bits), base64url: 43 characters, safe in a URL path segment as they are. */
export const SECRET_BYTES = 32;
export const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** The public id of a link (listing, revocation): 48 random bits in hex. It grants nothing by itself. */
export const TOKEN_ID_PATTERN = /^[0-9a-f]{12}$/;

export function newSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

export function newTokenId(): string {
  return randomBytes(6).toString('hex');
}

/** What the ledger stores instead of the secret: sha256, hex. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Constant-time comparison of two sha256 hex digests (the stored one and the presented secret's). A
 * malformed stored value (not 32 bytes) never matches.
 */
export function hashesMatch(storedHex: string, presentedHex: string): boolean {
  const a = Buffer.from(storedHex, 'hex');
  const b = Buffer.from(presentedHex, 'hex');
  return a.length === 32 && b.length === 32 && timingSafeEqual(a, b);
}
