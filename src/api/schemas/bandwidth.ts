import { z } from '@hono/zod-openapi';
import { Count, RateOrNull, must } from './common.js';

export const UplinkState = z.object({
  share: z.number().min(0).max(1).openapi({ description: 'Fraction of the estimated capacity uploads may use.' }),
  capacity_bytes_per_sec: RateOrNull.openapi({ description: 'Estimated uplink capacity; null before the first probe.' }),
  base_delay_ms: z.number().min(0).nullable().openapi({ description: 'Least wait for S3\'s answer over the last minute.' }),
  probes: Count,
  last_probe_bytes_per_sec: RateOrNull,
  train_bytes: Count.openapi({ description: 'Bytes of the next probe train.' }),
}).strict().openapi('UplinkState', { description: 'The `UPLINK_SHARE` estimate (docs/SHAPING.md).' });

const SharedBudgetState = z.object({
  backend: z.literal('redis'),
  mode: z.enum(['shared', 'fallback']).openapi({ description: '`shared`: leases from Redis; `fallback`: Redis unreachable, this gateway uses cap / `GATEWAY_COUNT` on its own and retries Redis every second.' }),
  gateways: z.number().int().min(1).openapi({ description: '`GATEWAY_COUNT`.' }),
  redis: z.string().openapi({ description: '`REDIS_URL` without credentials.', examples: ['redis://10.0.0.5:6379'] }),
  lease_ms: z.number().int().min(1).openapi({ description: 'Largest lease, in ms of the rate.' }),
}).strict().openapi('SharedBudgetState', { description: '`BUDGET_BACKEND=redis`: the gateways draw from one bucket in Redis (docs/SCALING.md).' });

/** Where the configured cap comes from: the operator's override, or the UPLOAD_BWLIMIT schedule (set or its default). */
export const CapSource = z.enum(['schedule', 'override']).openapi({ description: '`override` (`PUT /admin/bwlimit`) or `schedule` (`UPLOAD_BWLIMIT`, set or its default).' });

/** What sets the rate below the configured cap, if anything; `cap` when nothing does. */
export const LimitedBy = z.enum(['cap', 'uplink_share', 'budget_fallback']).openapi({ description: '`uplink_share`: `UPLINK_SHARE` measured a slower uplink. `budget_fallback`: `BUDGET_BACKEND=redis` and Redis unreachable: this gateway uses cap / `GATEWAY_COUNT`.' });

export const BandwidthState = z.object({
  rate_bytes_per_sec: RateOrNull.openapi({ description: 'What uploads may use now: the configured cap, or less when `UPLINK_SHARE` limits it. Null when unlimited.' }),
  rate: z.string().openapi({ description: 'The same for people: `100Mbit/s`, `800kbit/s`, or `off`.', examples: ['100Mbit/s'] }),
  source: CapSource,
  configured_rate_bytes_per_sec: RateOrNull.openapi({ description: 'The operator\'s cap (override, else the timetable entry in force); null when `off`.' }),
  limited_by: LimitedBy,
  schedule: z.string().openapi({ description: '`UPLOAD_BWLIMIT` as configured.', examples: ['08:00,40Mbit 18:00,100Mbit'] }),
  override: z.string().nullable().openapi({ description: 'The override set by `PUT /admin/bwlimit` (kept across restarts), or null.' }),
  uplink: z.union([UplinkState, z.null()]).openapi({ description: 'Null unless `UPLINK_SHARE` is set.' }),
  budget: z.union([SharedBudgetState, z.null()]).openapi({ description: 'Null unless `BUDGET_BACKEND=redis`.' }),
}).strict().openapi('BandwidthState', { description: 'The upload budget.' });
export type BandwidthState = z.infer<typeof BandwidthState>;

export const BandwidthRequest = z.object({
  rate: z.string({ error: must('be a rate such as "20Mbit", or null to return to the schedule') }).nullable().openapi({
    description: 'One rate with its unit (`20Mbit`, `12.5MB`, `512KiB`) or `off`, in force at once and kept across restarts; null returns to the `UPLOAD_BWLIMIT` schedule. A timetable is not accepted here (`400 invalid_rate`).',
  }),
}, { error: 'expected JSON {"rate": "20Mbit"} or {"rate": null} to return to the schedule' }).openapi('BandwidthRequest', {
  examples: [{ rate: '20Mbit' }, { rate: null }],
});
