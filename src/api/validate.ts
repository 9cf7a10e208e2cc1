import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { SpoolError } from '../errors.js';
import type { AppEnv } from '../http/env.js';

/*
 * Requests are checked by the same zod schemas /openapi.json is generated from. A refusal is the usual
 * `400 invalid_request` (`invalid_device_id` for a bad device id), its message naming each bad field.
 */

/** The JSON body as the schema reads it. Any Content-Type: `curl -d` sends form-urlencoded, and has always worked. */
export async function parseJsonBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S, required: boolean): Promise<z.output<S>> {
  const text = await c.req.text();
  if (text.trim() === '' && !required) return parse(schema, {});
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    body = undefined; // the schema's own message says what was expected
  }
  return parse(schema, body);
}

/** The query string: each parameter once (a repeated one is an array, which a string field refuses). */
export function parseQuery<S extends z.ZodType>(c: Context<AppEnv>, schema: S): z.output<S> {
  const query = Object.fromEntries(Object.entries(c.req.queries()).map(([k, v]) => [k, v.length === 1 ? v[0] : v]));
  return parse(schema, query);
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw requestError(result.error, schema);
}

export function requestError(error: z.ZodError, schema: z.ZodType): SpoolError {
  const fields = schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : [];
  const message = error.issues.map((issue) => describeIssue(issue, fields)).join('; ');
  const onlyDeviceId = error.issues.every((issue) => issue.path[0] === 'device_id');
  return new SpoolError(onlyDeviceId ? 'invalid_device_id' : 'invalid_request', message);
}

/** `max_uploads must be ..., got 0`, `unknown field "max_upload"; expected expires_in, max_uploads, device_id`. */
function describeIssue(issue: z.core.$ZodIssue, fields: string[]): string {
  if (issue.code === 'unrecognized_keys') {
    const key = JSON.stringify(issue.keys[0]?.slice(0, 40));
    return `unknown field ${key}${fields.length > 0 ? `; expected ${fields.join(', ')}` : ''}`;
  }
  const field = issue.path.map(String).join('.');
  return field === '' ? issue.message : `${field} ${issue.message}`;
}
