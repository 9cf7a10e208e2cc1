import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SharedBudget } from '../budget/shared-budget.js';

const MODES = ['local', 'shared', 'fallback'] as const;
const RESULTS = ['granted', 'empty', 'error'] as const;

/**
 * Where the upload budget comes from (BUDGET_BACKEND), registered with every backend so a dashboard and
 * the documented list are the same everywhere: with the local budget the mode is `local` and the Redis
 * counters stay at 0. State is read at scrape time; lease round trips are observed as they happen.
 */
export function registerBudgetMetrics(registry: Registry, budget: SharedBudget | null): void {
  const registers = [registry];
  const mode = (): (typeof MODES)[number] => budget?.mode ?? 'local';
  new Gauge({
    name: 'image_spool_budget_mode', help: 'Where the upload budget comes from: 1 for the mode in force (local: BUDGET_BACKEND=local; shared: leases from Redis; fallback: Redis unreachable, cap / GATEWAY_COUNT).', labelNames: ['mode'], registers,
    collect() {
      for (const m of MODES) this.set({ mode: m }, m === mode() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'image_spool_budget_fallback', help: '1 while BUDGET_BACKEND=redis and Redis is unreachable: this gateway uploads at cap / GATEWAY_COUNT on its own.', registers,
    collect() { this.set(mode() === 'fallback' ? 1 : 0); },
  });
  const seen = { granted: 0, empty: 0, error: 0, bytes: 0 };
  new Counter({
    name: 'image_spool_budget_lease_requests_total', help: 'Lease calls to the shared budget in Redis by result: granted (bytes leased), empty (none left: asked again later), error (failed or timed out: fallback).', labelNames: ['result'], registers,
    collect() {
      const s = budget?.stats();
      const now = { granted: s?.grants ?? 0, empty: s?.empty ?? 0, error: s?.errors ?? 0 };
      for (const result of RESULTS) {
        if (now[result] > seen[result]) this.inc({ result }, now[result] - seen[result]);
        else this.inc({ result }, 0);
        seen[result] = Math.max(seen[result], now[result]);
      }
    },
  });
  new Counter({
    name: 'image_spool_budget_leased_bytes_total', help: 'Bytes leased from the shared budget in Redis (they cover this gateway\'s egress in shared mode).', registers,
    collect() {
      const bytes = budget?.stats().grantedBytes ?? 0;
      if (bytes > seen.bytes) this.inc(bytes - seen.bytes);
      seen.bytes = Math.max(seen.bytes, bytes);
    },
  });
  const rtt = new Histogram({
    name: 'image_spool_budget_lease_duration_seconds', help: 'Round trip of each answered lease call to Redis (the Lua script included).', registers,
    buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2],
  });
  budget?.onLease((ms, outcome) => {
    if (outcome !== 'error') rtt.observe(ms / 1000);
  });
}
