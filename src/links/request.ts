import { SpoolError } from '../errors.js';
import { DEVICE_ID_PATTERN } from '../http/multipart.js';

/** Longest life a link may be given: `expires_in` up to 30 days. */
export const MAX_LINK_LIFETIME_SECONDS = 30 * 24 * 3600;
export const MAX_LINK_UPLOADS = 10_000;

/** A validated `POST /admin/links` body. */
export interface LinkRequest {
  expiresInSeconds: number;
  maxUploads: number | null;
  deviceId: string | null;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
const KNOWN_FIELDS = new Set(['expires_in', 'max_uploads', 'device_id']);

/**
 * `{"expires_in": "48h" | 3600, "max_uploads"?: N, "device_id"?: "..."}`. Strict: an unknown field is
 * refused, so a typo ("max_upload": 1) cannot silently create an unlimited link.
 */
export function parseLinkRequest(body: unknown): LinkRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SpoolError('invalid_request', 'expected a JSON object {"expires_in": "48h" | seconds, "max_uploads"?: N, "device_id"?: "..."}');
  }
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !KNOWN_FIELDS.has(k));
  if (unknown.length > 0) {
    throw new SpoolError('invalid_request', `unknown field ${JSON.stringify(unknown[0]?.slice(0, 40))}; expected expires_in, max_uploads, device_id`);
  }
  return {
    expiresInSeconds: parseExpiresIn(b['expires_in']),
    maxUploads: parseMaxUploads(b['max_uploads']),
    deviceId: parseDeviceId(b['device_id']),
  };
}

/** "90s", "30m", "48h", "7d", or a positive whole number of seconds (also as a string); at most 30 days. */
export function parseExpiresIn(value: unknown): number {
  let seconds: number | null = null;
  if (typeof value === 'number' && Number.isSafeInteger(value)) {
    seconds = value;
  } else if (typeof value === 'string') {
    const m = /^\s*(\d{1,10})\s*([smhd]?)\s*$/i.exec(value);
    if (m) seconds = Number(m[1]) * (UNIT_SECONDS[(m[2] || 's').toLowerCase()] ?? 1);
  }
  if (seconds === null) {
    throw new SpoolError('invalid_request', `expires_in must be a duration like "90s", "30m", "48h", "7d" or a whole number of seconds, got ${describe(value)}`);
  }
  if (seconds < 1 || seconds > MAX_LINK_LIFETIME_SECONDS) {
    throw new SpoolError('invalid_request', `expires_in must be between 1 second and 30 days (${MAX_LINK_LIFETIME_SECONDS} s), got ${describe(value)}`);
  }
  return seconds;
}

function parseMaxUploads(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_LINK_UPLOADS) return value;
  throw new SpoolError('invalid_request', `max_uploads must be a whole number from 1 to ${MAX_LINK_UPLOADS} (or absent for no limit), got ${describe(value)}`);
}

function parseDeviceId(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && DEVICE_ID_PATTERN.test(value)) return value;
  throw new SpoolError('invalid_device_id', `device_id ${describe(value)} must match ${DEVICE_ID_PATTERN.source}`);
}

function describe(value: unknown): string {
  return (JSON.stringify(value) ?? String(value)).slice(0, 80);
}
