import { z } from '@hono/zod-openapi';
import { ERROR_STATUS, type ErrorCode } from '../../errors.js';
import { DEVICE_ID_PATTERN } from '../../http/limits.js';
import { ID_PATTERN } from '../../ids.js';
import { IMAGE_STATES } from '../../ledger/types.js';
import { STORED_FORMATS } from '../../meta/sniff.js';
import { ERROR_DOCS } from '../error-docs.js';
import { EXAMPLE_ID } from '../examples.js';

/*
 * The pieces every JSON schema of the API is made of. Each zod object here is the one source for three
 * things: what a request may hold (validated through it), the TypeScript type of what an answer holds
 * (z.infer), and the OpenAPI text of /openapi.json (generated from it).
 */

/** How a refused value shows in a message: JSON, cut to 80 characters; "nothing" when absent. */
function describeValue(value: unknown): string {
  return value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value)).slice(0, 80);
}

/** A zod error message that reads after the field's name: `max_uploads must be ..., got 0`. */
export const must = (what: string) => (issue: { input?: unknown }): string => `must ${what}, got ${describeValue(issue.input)}`;

export const Time = z.iso.datetime({ offset: true }).openapi({ description: 'ISO 8601, UTC (`2026-11-23T10:20:30.123Z`).' });
export const TimeOrNull = z.union([Time, z.null()]);
export const Count = z.number().int().min(0);
/** Bytes per second; null when the budget is `off` (unlimited). */
export const RateOrNull = z.number().min(0).nullable();
export const TextOrNull = z.string().nullable();

export const ImageId = z.string().regex(ID_PATTERN).openapi('ImageId', { description: 'ULID: sorts by receive time.', examples: [EXAMPLE_ID] });

export const DeviceId = z.string({ error: must(`be a string matching ${DEVICE_ID_PATTERN.source}`) })
  .regex(DEVICE_ID_PATTERN, { error: must(`match ${DEVICE_ID_PATTERN.source}`) })
  .openapi('DeviceId', { description: 'Letters, digits, `.`, `_`, `-`; 1-64 characters, not only dots. Part of the S3 key.', examples: ['device_1'] });

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/).openapi('Sha256', { description: 'SHA-256 of the image bytes, lowercase hex.' });

export const ContentType = z.enum(STORED_FORMATS.map((f) => f.contentType) as [string, ...string[]]).openapi('ContentType', {
  description: 'From the magic bytes, never from the client. `application/octet-stream`: bytes that are no recognised image, accepted only with `IMAGE_FORMATS=any`.',
});

export const ImageState = z.enum(IMAGE_STATES).openapi('ImageState', {
  description: '`queued` -> `uploading` -> `uploaded`; `dead` after `MAX_ATTEMPTS` refusals by S3 (an operator may requeue it); `evicted` by `SPOOL_FULL_POLICY=evict-oldest` before upload.',
});

const CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** Every error answer: the code table of src/errors.ts, each code described in src/api/error-docs.ts. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(CODES).openapi({ description: CODES.map((c) => `- \`${c}\` (${ERROR_STATUS[c]}): ${ERROR_DOCS[c].when}`).join('\n') }),
    message: z.string(),
  }).strict(),
}).strict().openapi('Error', {
  description: 'Every error answer. `code` is stable (clients branch on it); `message` is for people and may change.',
  examples: [{ error: { code: 'missing_image', message: 'the form has no "image" part' } }],
});
