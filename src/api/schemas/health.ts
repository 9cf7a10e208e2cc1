import { z } from '@hono/zod-openapi';

export const Health = z.object({
  status: z.enum(['ok', 'error']),
  error: z.object({ code: z.literal('ledger_unavailable'), message: z.string() }).strict().optional().openapi({ description: 'Only with `status: "error"`.' }),
}).strict().openapi('Health');

export const ReadinessCheck = z.object({ ok: z.boolean(), message: z.string() }).strict().openapi('ReadinessCheck');
export type ReadinessCheck = z.infer<typeof ReadinessCheck>;

const check = (description: string) => ReadinessCheck.openapi({ description });

export const Readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  failed: z.array(z.enum(['ledger', 'spool', 'uploader', 'budget'])).openapi({ description: 'The checks that failed (empty when ready).' }),
  checks: z.object({
    ledger: check('The ledger takes its write lock.'),
    spool: check('Not degraded, a file can be created in the images directory, room under `SPOOL_MAX_BYTES` and `SPOOL_MIN_FREE_BYTES`.'),
    uploader: check('Not paused by a systemic S3 failure (credentials, bucket, clock, endpoint).'),
    budget: check('Only with `BUDGET_BACKEND=redis`. Always `ok`: without Redis the gateway still takes and uploads images, at cap / `GATEWAY_COUNT`; the message says `shared (redis)` or `local fallback (redis unreachable)`.').optional(),
  }).strict(),
}).strict().openapi('Readiness', { description: 'Ready: an image sent now would be accepted and uploaded.' });
export type Readiness = z.infer<typeof Readiness>;
