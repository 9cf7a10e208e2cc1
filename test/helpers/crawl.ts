/**
 * An unauthenticated crawler's view of the service: every answer's body and headers as text, and every
 * id-shaped string in them (ULIDs, hex hashes, UUIDs, base64url secrets and signatures, shortened ids).
 */

export interface CrawlRequest {
  method: 'GET' | 'HEAD' | 'POST';
  path: string;
  body?: RequestInit['body'];
  headers?: Record<string, string>;
}

export interface Crawled {
  request: string;
  status: number;
  /** Body and header values, as one text. */
  text: string;
}

export async function crawl(baseUrl: string, requests: readonly CrawlRequest[]): Promise<Crawled[]> {
  const out: Crawled[] = [];
  for (const r of requests) {
    const res = await fetch(`${baseUrl}${r.path}`, { method: r.method, headers: r.headers, body: r.body, redirect: 'manual' });
    const body = await res.text();
    const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
    out.push({ request: `${r.method} ${r.path}`, status: res.status, text: `${headers}\n\n${body}` });
  }
  return out;
}

/** Runs of URL-safe characters (what an id, a hash, a token or a signature is made of), at least 12 long. */
const RUN = /[A-Za-z0-9_-]{12,}/g;
/** What the service shows instead of an id: `…` and the id's last characters. */
const SHORTENED = /…([0-9A-Za-z]{3,})/g;

function idShaped(run: string): boolean {
  return /\d/.test(run) // ids, hashes, UUIDs, secrets: nearly always a digit
    || /^[0-9A-HJKMNP-TV-Z]{26}$/i.test(run) // a ULID
    || /^[0-9a-f]{16,}$/i.test(run) // a hex hash
    || (run.length >= 32 && !/^[a-z]+([_-][a-z]+)*$/i.test(run)); // a secret or signature without a digit (not a word or snake_case name)
}

/** Every id-shaped string in the texts, each once. */
export function idShapedStrings(texts: readonly string[]): string[] {
  const found = new Set<string>();
  for (const text of texts) {
    for (const [run] of text.matchAll(RUN)) {
      if (!idShaped(run)) continue;
      found.add(run);
      // A ULID inside a longer run (an S3 key without separators, a concatenation) is tried on its own too.
      for (const [ulid] of run.matchAll(/[0-9A-HJKMNP-TV-Z]{26}/g)) found.add(ulid);
    }
    for (const [, tail] of text.matchAll(SHORTENED)) found.add(tail as string);
  }
  return [...found];
}

/** Every link with a `sig=` parameter in the texts (a signed read link would look like this). */
export function signedLinks(texts: readonly string[]): string[] {
  const found = new Set<string>();
  for (const text of texts) for (const [link] of text.matchAll(/(?:https?:\/\/[^\s"'<>]*)?\/images\/[^\s"'<>]*[?&]sig=[^\s"'<>&]*[^\s"'<>]*/g)) found.add(link);
  return [...found];
}
