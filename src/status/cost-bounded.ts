/**
 * Caches an expensive read so it costs at most `share` of the process's time, however many clients
 * poll: a query that took d ms is not run again for max(minIntervalMs, d / share). At share 1%, a 1 ms
 * query refreshes every second and an 85 ms one (per-device backlog at a million queued rows) every 8.5 s.
 */
export function costBounded<T>(compute: () => T, options: { share?: number; minIntervalMs?: number; now?: () => number } = {}): () => { value: T; computedAtMs: number } {
  const share = options.share ?? 0.01;
  const minIntervalMs = options.minIntervalMs ?? 1000;
  const now = options.now ?? (() => performance.timeOrigin + performance.now());
  let cached: { value: T; computedAtMs: number } | null = null;
  let freshUntil = -Infinity;
  return () => {
    const started = now();
    if (cached && started < freshUntil) return cached;
    cached = { value: compute(), computedAtMs: started };
    freshUntil = started + Math.max(minIntervalMs, (now() - started) / share);
    return cached;
  };
}
