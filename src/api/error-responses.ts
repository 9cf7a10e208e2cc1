import type { RouteConfig } from '@hono/zod-openapi';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import { ERROR_DOCS } from './error-docs.js';
import { ErrorBody } from './schemas/common.js';

type ResponseConfig = RouteConfig['responses'][string];
type HeaderDoc = { description: string; schema: { type: 'string' | 'integer'; minimum?: number; pattern?: string; const?: string } };

const RETRY_AFTER: HeaderDoc = { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } };

/** Headers an error answer carries besides Content-Type. */
const ERROR_HEADERS: { readonly [K in ErrorCode]?: Record<string, HeaderDoc> } = {
  unauthorized: { 'WWW-Authenticate': { description: '`Bearer` (admin), `Basic realm="image-spool admin"` (the full status view) or `Bearer realm="image-spool devices"` (device token).', schema: { type: 'string' } } },
  too_busy: { 'Retry-After': RETRY_AFTER },
  ledger_busy: { 'Retry-After': RETRY_AFTER },
  disk_full: { 'Retry-After': RETRY_AFTER },
  shutting_down: { 'Retry-After': RETRY_AFTER },
  image_too_large: { Connection: { description: '`close`: the rest of the body is not read.', schema: { type: 'string', const: 'close' } } },
  range_not_satisfiable: { 'Content-Range': { description: '`bytes */<size>`: the image\'s size.', schema: { type: 'string', pattern: '^bytes \\*/\\d+$' } } },
};

/**
 * Error answers for these codes, grouped under the status ERROR_STATUS gives each code (so a status can
 * never disagree with the code table), each with an example per code.
 */
export function errorResponses(...codes: ErrorCode[]): Record<string, ResponseConfig> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  const out: Record<string, ResponseConfig> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const headers = Object.assign({}, ...list.map((code) => ERROR_HEADERS[code] ?? {})) as Record<string, HeaderDoc>;
    const examples = Object.fromEntries(list.map((code) => [code, { summary: ERROR_DOCS[code].when, value: { error: { code, message: ERROR_DOCS[code].message } } }]));
    out[String(status)] = {
      description: list.map((code) => `\`${code}\`: ${ERROR_DOCS[code].when}`).join('\n\n'),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: { 'application/json': { schema: ErrorBody, examples } },
    };
  }
  return out;
}

/** What any upload (POST /image, POST /u/{secret}) may be refused with, besides its own codes. */
export const UPLOAD_ERRORS: ErrorCode[] = [
  'invalid_request', 'missing_device_id', 'invalid_device_id', 'missing_image', 'too_many_images', 'too_many_fields', 'invalid_idempotency_key',
  'request_timeout', 'image_too_large', 'unsupported_media_type', 'not_an_image', 'request_headers_too_large',
  'shutting_down', 'spool_degraded', 'too_busy', 'ledger_unavailable', 'ledger_busy', 'disk_full', 'internal',
];
