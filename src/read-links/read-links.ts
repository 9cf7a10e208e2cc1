import { createHmac, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { loadOrCreateSecret } from '../admin/secret-file.js';
import type { Logger } from '../log.js';

/** The HMAC key of signed read links, beside admin.token and as well kept (0600). Delete it to void every link. */
export const READ_LINK_KEY_FILE = 'read-link.key';
/** When `expires_in` is not given. */
export const DEFAULT_READ_LINK_SECONDS = 3600;

const SIG_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const EXPIRES_PATTERN = /^\d{1,12}$/;

/** What a request's `expires` and `sig` query parameters prove for one image id. */
export type ReadLinkCheck = 'absent' | 'valid' | 'invalid' | 'expired';

export interface IssuedReadLink {
  /** Unix seconds; the link works while the clock is before it. */
  expires: number;
  sig: string;
  /** `?expires=...&sig=...`, for `/images/{id}` and `/images/{id}/status` alike. */
  query: string;
}

/**
 * Signed, expiring read links: `sig` = HMAC-SHA256(key, id and expiry), base64url. Nothing is stored per
 * link: the signature is the whole credential, so a link cannot be revoked one by one, only all together by
 * replacing the key. The id is inside the signature, so a link opens one image and no other.
 */
export class ReadLinks {
  constructor(private readonly key: string, private readonly now: () => number = Date.now) {}

  issue(id: string, expiresInSeconds: number): IssuedReadLink {
    const expires = Math.floor(this.now() / 1000) + expiresInSeconds;
    const sig = this.sign(id, expires);
    return { expires, sig, query: `?expires=${expires}&sig=${sig}` };
  }

  check(id: string, expires: string | undefined, sig: string | undefined): ReadLinkCheck {
    if (expires === undefined && sig === undefined) return 'absent';
    if (expires === undefined || sig === undefined || !EXPIRES_PATTERN.test(expires) || !SIG_PATTERN.test(sig)) return 'invalid';
    // The text is compared, not the bytes it decodes to: the last of 43 base64url characters carries two bits
    // no decoder reads, so four spellings decode to one MAC. A link is valid only exactly as it was issued.
    const expected = Buffer.from(this.sign(id, Number(expires)), 'latin1');
    const presented = Buffer.from(sig, 'latin1');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return 'invalid';
    // Checked only once the signature holds, so "expired" never confirms a forged expiry.
    return this.now() < Number(expires) * 1000 ? 'valid' : 'expired';
  }

  private sign(id: string, expires: number): string {
    return createHmac('sha256', this.key).update(`image-spool read link v1\n${id}\n${expires}`).digest('base64url');
  }
}

/** The key from `$SPOOL_DIR/read-link.key`, generated on first start; only the file's path is logged. */
export async function loadReadLinks(spoolDir: string, log: Logger): Promise<ReadLinks> {
  const file = path.join(spoolDir, READ_LINK_KEY_FILE);
  const { secret, created } = await loadOrCreateSecret(file);
  if (created) log.info({ key_file: file }, 'generated the signing key of read links');
  return new ReadLinks(secret);
}
