import { z } from '@hono/zod-openapi';
import { MAX_LINK_LIFETIME_SECONDS, MAX_LINK_UPLOADS } from '../../http/limits.js';
import { TOKEN_ID_PATTERN } from '../../links/secret.js';
import { EXAMPLE_LINK } from '../examples.js';
import { Count, DeviceId, ImageId, Time, TimeOrNull, must } from './common.js';

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
const DURATION = /^\s*(\d{1,10})\s*([smhdSMHD]?)\s*$/;

/** Seconds of a valid `expires_in`: "90s", "30m", "48h", "7d", or whole seconds (a number, or digits). */
export function durationSeconds(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = DURATION.exec(value);
  return Number(m?.[1]) * (UNIT_SECONDS[(m?.[2] || 's').toLowerCase()] ?? 1);
}

const LIFETIME = `between 1 second and 30 days (${MAX_LINK_LIFETIME_SECONDS} s)`;

const NOT_A_DURATION = must('be a duration like "90s", "30m", "48h", "7d" or a whole number of seconds');
const OUT_OF_RANGE = must(`be ${LIFETIME}`);

/**
 * `expires_in` of upload links and read links. Whole seconds carry their range in the schema itself; a
 * duration string's range needs the refinement (JSON Schema cannot add up units), which the description says.
 */
export const Duration = z.union([
  z.number({ error: NOT_A_DURATION }).int({ error: NOT_A_DURATION }).min(1, { error: OUT_OF_RANGE }).max(MAX_LINK_LIFETIME_SECONDS, { error: OUT_OF_RANGE }),
  z.string({ error: NOT_A_DURATION }).regex(DURATION, { error: NOT_A_DURATION }),
], { error: NOT_A_DURATION }).refine((v) => {
  if (typeof v !== 'string' || !DURATION.test(v)) return true; // numbers and non-durations: reported above
  const seconds = durationSeconds(v);
  return seconds >= 1 && seconds <= MAX_LINK_LIFETIME_SECONDS;
}, { error: OUT_OF_RANGE }).openapi({
  description: `\`90s\`, \`30m\`, \`48h\`, \`7d\`, or whole seconds (number or string); ${LIFETIME}.`,
});

const NOT_AN_UPLOAD_COUNT = must(`be a whole number from 1 to ${MAX_LINK_UPLOADS} (or absent for no limit)`);

export const LinkRequest = z.object({
  expires_in: Duration,
  max_uploads: z.number({ error: NOT_AN_UPLOAD_COUNT }).int({ error: NOT_AN_UPLOAD_COUNT })
    .min(1, { error: NOT_AN_UPLOAD_COUNT }).max(MAX_LINK_UPLOADS, { error: NOT_AN_UPLOAD_COUNT })
    .nullish().openapi({ description: 'Images the link may store; absent or null: until expiry.' }),
  device_id: z.union([DeviceId, z.null()]).optional().openapi({ description: 'Fixes the device; absent or null lets each form name it.' }),
}, { error: 'expected a JSON object {"expires_in": "48h" | seconds, "max_uploads"?: N, "device_id"?: "..."}' }).strict().openapi('LinkRequest', {
  description: 'Strict: an unknown field is refused (400), so a typo cannot create an unlimited link.',
  examples: [{ expires_in: '48h', max_uploads: 20, device_id: 'kiosk-1' }],
});

export const LinkTokenId = z.string().regex(TOKEN_ID_PATTERN).openapi('LinkTokenId', {
  description: 'The public name of a link, for listing and revoking; it opens nothing.', examples: ['3f9c01a2b7de'],
});

export const LinkCreated = z.object({
  url: z.string().openapi({ description: 'Where to POST images: absolute (`http://<Host>/u/<secret>`) when the request named its Host, else `/u/<secret>`. The secret appears here and nowhere else.' }),
  token_id: LinkTokenId,
  expires_at: Time,
  max_uploads: z.number().int().min(1).nullable(),
  device_id: z.union([DeviceId, z.null()]),
}).strict().openapi('LinkCreated');
export type LinkCreated = z.infer<typeof LinkCreated>;

export const Link = z.object({
  token_id: LinkTokenId,
  device_id: z.union([DeviceId, z.null()]),
  max_uploads: z.number().int().min(1).nullable(),
  uploads_used: Count,
  expires_at: Time,
  created_at: Time,
  revoked: z.boolean(),
  revoked_at: TimeOrNull,
  state: z.enum(['active', 'expired', 'used_up', 'revoked']).openapi({ description: 'Revoked wins over expired, expired over used up.' }),
}).strict().openapi('Link', { description: 'An upload link as the admin API shows it: never the secret or its hash.', examples: [EXAMPLE_LINK] });
export type LinkView = z.infer<typeof Link>;

export const LinkList = z.object({ links: z.array(Link) }).strict().openapi('LinkList');

export const ReadLinkRequest = z.object({
  expires_in: Duration.optional().openapi({ description: `\`90s\`, \`30m\`, \`48h\`, \`7d\`, or whole seconds (number or string); ${LIFETIME}. Default 1 hour.` }),
}, { error: 'expected an empty body or a JSON object {"expires_in": "1h" | seconds}' }).strict().openapi('ReadLinkRequest', {
  description: 'Optional: an empty body gives a link for 1 hour. An unknown field is refused (400).',
  examples: [{ expires_in: '24h' }],
});

export const ReadLink = z.object({
  image_id: ImageId,
  url: z.string().openapi({ description: 'The image bytes: `/images/{id}?expires=<unix seconds>&sig=<HMAC-SHA256, base64url>`, absolute when the request named its Host. A credential: hand it on like one.' }),
  status_url: z.string().openapi({ description: 'The full record with metadata, signed by the same signature.' }),
  expires_at: Time,
}).strict().openapi('ReadLink');
export type ReadLink = z.infer<typeof ReadLink>;
