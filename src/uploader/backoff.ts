/**
 * Exponential backoff with full jitter (AWS architecture blog): a random delay in
 * [0, min(cap, base * 2^(attempt-1))], so thousands of images failing together do not retry in lockstep.
 */
export function backoffDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.floor(random() * ceiling);
}
