/*
 * What is shown without a credential never carries a whole image id: an id opens the image's outcome
 * (GET /images/{id}/status), and a page or an error message is read by whoever reaches the port. Ids are
 * shortened to their last characters, enough to tell rows apart and far too few to guess the rest (the
 * 50 random bits left are ~10^15 tries over HTTP).
 */

const ULID_ANYWHERE = /[0-9A-HJKMNP-TV-Z]{26}/g;
/** SHA-256s and other long hex (an error can quote another image's hash). */
const LONG_HEX = /[0-9a-fA-F]{32,}/g;
const KEPT = 6;

/** `…` and the id's last 6 characters. */
export function shortId(id: string): string {
  return `…${id.slice(-KEPT)}`;
}

/** Every id-shaped run in free text (an error message, a file path, an S3 key) shortened. */
export function redactIds(text: string): string {
  return text.replace(ULID_ANYWHERE, shortId).replace(LONG_HEX, (hex) => `${hex.slice(0, 8)}…`);
}
