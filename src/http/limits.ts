/*
 * Limits of what a request may carry, in one leaf module: the code enforces them and the OpenAPI text
 * (src/api/) quotes them, so the two cannot disagree.
 */

/** Letters, digits, dot, underscore, hyphen; not only dots ("." and ".." would be path segments in the S3 key). */
export const DEVICE_ID_PATTERN = /^(?!\.+$)[A-Za-z0-9._-]{1,64}$/;

/** Idempotency-Key: 1-200 visible ASCII characters (a UUID is typical). */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

/** Plain-field images are buffered by busboy, so they are only accepted while small. */
export const MAX_FIELD_IMAGE_BYTES = 1024 * 1024;

/** Plain fields and parts a form on POST /image may carry; beyond either it is refused (400 too_many_fields). */
export const FORM_LIMITS = { fields: 20, parts: 40 } as const;

/** Image parts one request through an upload link may carry (each is still limited to MAX_IMAGE_BYTES). */
export const LINK_MAX_IMAGES_PER_REQUEST = 100;

/** Longest life an upload link or a read link may be given: `expires_in` up to 30 days. */
export const MAX_LINK_LIFETIME_SECONDS = 30 * 24 * 3600;

/** Most images one upload link may store. */
export const MAX_LINK_UPLOADS = 10_000;

/** A JSON upload's body may be the base64 of MAX_IMAGE_BYTES plus this much JSON around it. */
export const JSON_ENVELOPE_BYTES = 4096;
