import type { Context } from 'hono';
import { ERROR_STATUS, type ErrorCode } from '../errors.js';
import { STORED_FORMATS } from '../meta/sniff.js';
import type { AppEnv } from './env.js';
import { STATUS_PATHS, STATUS_SCHEMAS } from '../status/openapi.js';

/*
 * GET /openapi.json: an OpenAPI 3.1 description of every endpoint, written by hand (no generator, no
 * dependency). test/integration/openapi.test.ts keeps it honest: every route the app registers must be
 * described, every code in ERROR_STATUS must be in the Error schema, every $ref must resolve, and the real
 * answers of a running service must match the schemas given here. docs/API.md has a curl example for each.
 */

// ---------------------------------------------------------------------------------------------------
// The subset of OpenAPI 3.1 this document uses, typed so a typo in a keyword does not compile.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
type JsonType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';

export interface Ref {
  $ref: string;
}

/** JSON Schema 2020-12, as far as this document needs it. */
export interface Schema {
  $ref?: string;
  title?: string;
  description?: string;
  type?: JsonType | JsonType[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: Array<string | number | null>;
  const?: JsonValue;
  oneOf?: Schema[];
  anyOf?: Schema[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  contentEncoding?: string;
  contentMediaType?: string;
  examples?: JsonValue[];
}

export interface Example {
  summary?: string;
  value: JsonValue;
}

export interface MediaType {
  schema: Schema;
  example?: JsonValue;
  examples?: Record<string, Example>;
}

export interface Header {
  description: string;
  required?: boolean;
  schema: Schema;
}

export interface ResponseObject {
  description: string;
  headers?: Record<string, Header | Ref>;
  content?: Record<string, MediaType>;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description: string;
  schema: Schema;
  example?: JsonValue;
}

export interface RequestBody {
  description?: string;
  required?: boolean;
  content: Record<string, MediaType>;
}

export type SecurityRequirement = Record<string, string[]>;

export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** `[]`: public. `[{}, {deviceBearer: []}]`: optional credential. */
  security: SecurityRequirement[];
  parameters?: Array<Parameter | Ref>;
  requestBody?: RequestBody;
  responses: Record<string, ResponseObject | Ref>;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];
export type PathItem = Partial<Record<HttpMethod, Operation>>;

export type SecurityScheme =
  | { type: 'http'; scheme: 'bearer' | 'basic'; bearerFormat?: string; description: string }
  | { type: 'apiKey'; in: 'query' | 'header'; name: string; description: string };

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; summary: string; description: string; license: { name: string; identifier: string } };
  servers: Array<{ url: string; description: string }>;
  tags: Array<{ name: string; description: string }>;
  security: SecurityRequirement[];
  paths: Record<string, PathItem>;
  components: {
    schemas: Record<string, Schema>;
    securitySchemes: Record<string, SecurityScheme>;
    parameters: Record<string, Parameter>;
    headers: Record<string, Header>;
  };
}

// ---------------------------------------------------------------------------------------------------
// Error codes. Hand-written on purpose: the test fails when ERROR_STATUS gains a code that is not here,
// and the type refuses a code that ERROR_STATUS no longer has.

interface ErrorDoc {
  /** When the service answers with it. */
  when: string;
  /** A message as the service writes it. */
  message: string;
}

const NOT_HTTP = 'Not sent by the HTTP API (startup, uploader or CLI); listed so the code space is complete.';

export const ERROR_DOCS: { readonly [K in ErrorCode]?: ErrorDoc } = {
  invalid_request: {
    when: 'Malformed multipart, JSON or HTTP, a body that ends early or a connection closed mid-upload, `device_id` given twice with different values, a JSON `image` that is not standard base64, an admin request body of the wrong shape, or a `device_id` other than the one an upload link fixes.',
    message: 'malformed multipart body: Unexpected end of form',
  },
  invalid_rate: { when: 'The rate in `PUT /admin/bwlimit` does not parse (one rate with a unit, or `off`; a timetable is refused too); the message names it.', message: 'invalid rate "20 furlongs": unknown unit "furlongs" (bits: kbit, Mbit, Gbit; bytes: B, KB, MB, GB, KiB, MiB, GiB)' },
  missing_device_id: { when: 'The form has no `device_id` (and no device token or link names the device).', message: 'the form has no "device_id" field' },
  invalid_device_id: { when: '`device_id` does not match `^(?!\\.+$)[A-Za-z0-9._-]{1,64}$`.', message: 'device_id "../etc" must match ^(?!\\.+$)[A-Za-z0-9._-]{1,64}$' },
  missing_image: { when: 'No `image` part (or JSON `image` string), or an empty one.', message: 'the form has no "image" part' },
  too_many_images: { when: 'More than one `image` part on `POST /image`, more than 100 on an upload link.', message: 'send exactly one image part per request' },
  too_many_fields: { when: 'The form carries more than 20 plain fields (or more than 40 parts on `POST /image`): refused as the limit is passed, whatever comes after.', message: 'the form has more than 20 plain fields; send device_id and the image, and few other fields' },
  invalid_idempotency_key: { when: '`Idempotency-Key` is not 1-200 visible ASCII characters; on upload links, any `Idempotency-Key`.', message: 'Idempotency-Key must be 1-200 visible ASCII characters' },
  idempotency_key_reused: { when: 'The device used this `Idempotency-Key` before for other bytes.', message: 'Idempotency-Key was already used by device device_1 for image 01M84CWPD0SMD5ZBY79VQQHV2V with other bytes (sha256 81fc…)' },
  link_quota_exceeded: { when: 'An upload link request carries more image parts than the link has uploads left (refused as the parts arrive; nothing stored).', message: 'this upload link can take 1 image in this request (max_uploads 20, 19 used); this request carries more image parts; nothing was stored' },
  link_expired: { when: 'The upload link is past `expires_at`.', message: 'this upload link expired at 2026-11-25T10:00:00.000Z' },
  link_used_up: { when: 'The upload link has stored `max_uploads` images.', message: 'this upload link has been used for all of its 20 uploads' },
  link_revoked: { when: 'The upload link was revoked (also mid-request: nothing is stored).', message: 'this upload link was revoked' },
  unauthorized: { when: 'Admin endpoints and the full status view without the admin token; image bytes without a credential (`IMAGE_READ=credential`, the default); an image read with a credential that is not the admin token (or, with `DEVICE_AUTH=token`, not a valid device token); `POST /image` without a valid device token when `DEVICE_AUTH=token`. Messages sent without the admin token shorten every image id in them.', message: 'admin endpoints need Authorization: Bearer <token> (ADMIN_TOKEN or $SPOOL_DIR/admin.token)' },
  device_mismatch: { when: '`DEVICE_AUTH=token`: the form names a `device_id` other than the device token\'s.', message: 'this device token belongs to "device_1", not "device_2"' },
  read_link_invalid: { when: 'An image read with `expires` and `sig` that do not hold for this id: altered, cut short, or signed for another image or by another gateway\'s key (checked before the id is looked up).', message: 'this read link is not valid for this image (altered, cut short, or signed for another image or gateway)' },
  read_link_expired: { when: 'A signed read link past its `expires` (a genuine one: the signature is checked first).', message: 'this read link expired at 2026-11-23T11:20:31.000Z; ask for a new one' },
  not_found: { when: 'Unknown image id, unknown upload link secret or `token_id`, an image whose file is neither in the spool nor uploaded, or no such route. Without the admin token, image ids in the message are shortened (`…QHV2V`).', message: 'no image with id "…QHV2V"' },
  image_gone: { when: 'The image was evicted before upload (`SPOOL_FULL_POLICY=evict-oldest`): its bytes are gone.', message: 'image 01M84CWPD0SMD5ZBY79VQQHV2V was evicted before upload (spool full); its bytes are gone' },
  range_not_satisfiable: { when: 'The `Range` header cannot be satisfied for the image\'s size.', message: 'range not satisfiable for 300004 bytes' },
  request_timeout: { when: 'The headers took longer than `INGEST_HEADERS_TIMEOUT_MS`, or the body stalled or trickled below `INGEST_MIN_BODY_RATE`, or at its pace could not finish its `Content-Length` within `INGEST_BODY_MAX_MS`. The connection closes.', message: 'only 3600 body bytes in 30000 ms; at least 1000 B/s expected (INGEST_BODY_TIMEOUT_MS, INGEST_MIN_BODY_RATE)' },
  request_headers_too_large: { when: 'The request headers exceed Node\'s header size limit (answered before routing).', message: 'malformed HTTP request (HPE_HEADER_OVERFLOW)' },
  image_too_large: { when: 'Over `MAX_IMAGE_BYTES`: by `Content-Length` before reading, or while streaming; a plain-field image over 1 MiB; a JSON body longer than the base64 of `MAX_IMAGE_BYTES`. The connection closes.', message: 'image exceeds MAX_IMAGE_BYTES (50000000 bytes)' },
  unsupported_media_type: { when: 'The request body is not `multipart/form-data` (or, on `POST /image`, `application/json`).', message: 'expected Content-Type multipart/form-data or application/json, got "text/plain"' },
  not_an_image: { when: 'The magic bytes are no format `IMAGE_FORMATS` accepts (by default JPEG, PNG, WebP, GIF, TIFF, HEIC, AVIF, JPEG XL, BMP; `any` accepts any bytes).', message: 'the image is not a recognised image (checked by its first bytes); accepted: jpeg, png, webp, gif, tiff, heic, avif, jxl, bmp' },
  disk_full: { when: 'The spool would pass `SPOOL_MAX_BYTES` or leave less than `SPOOL_MIN_FREE_BYTES` free (checked before the body is read), or the disk really filled. `Retry-After` is the seconds uploads need to free the overshoot (1 s to 1 h).', message: 'the spool is full (12 MB over SPOOL_MAX_BYTES or SPOOL_MIN_FREE_BYTES); uploads free it at the current rate in ~1 s' },
  spool_degraded: { when: 'An fsync or I/O error on the spool disk: restart required.', message: 'spool is degraded (EIO on fsync); restart required' },
  too_busy: { when: 'More than `MAX_CONCURRENT_UPLOADS` uploads are being received, or `MAX_UPLOADS_PER_ADDRESS` from this address; or, with every slot taken, this was the slowest upload of the address holding the most and a device from an address with fewer needed its slot. `Retry-After: 1`.', message: '256 uploads in progress (MAX_CONCURRENT_UPLOADS=256); retry shortly' },
  shutting_down: { when: 'The service is draining after SIGTERM; `Retry-After: 5`.', message: 'the gateway is shutting down; retry on another gateway or later' },
  service_unreachable: { when: `The CLI cannot reach the service. ${NOT_HTTP}`, message: 'cannot reach the service at http://127.0.0.1:4000 (set IMAGE_SPOOL_URL or PORT)' },
  ledger_unavailable: { when: 'The ledger (SQLite) could not record or read.', message: 'could not record the image in the ledger' },
  ledger_busy: {
    when: 'Another process holds the ledger\'s write lock (an operator\'s `sqlite3` in `BEGIN IMMEDIATE`, a backup) for longer than `LEDGER_LOCK_WAIT_MS`: nothing was stored; send again after `Retry-After` (2 s). `/readyz` names the process.',
    message: 'image 01M84CWPD0SMD5ZBY79VQQHV2V not recorded within LEDGER_LOCK_WAIT_MS (500 ms): the ledger is locked by another process (a write transaction, such as sqlite3\'s BEGIN IMMEDIATE); nothing was stored, send it again',
  },
  budget_unavailable: { when: '`BUDGET_BACKEND=redis`: `PUT /admin/bwlimit` could not write the override to the shared budget in Redis (unreachable or too slow); nothing changed. Uploads continue at `cap / GATEWAY_COUNT` meanwhile.', message: 'the shared upload budget (Redis at redis://10.0.0.5:6379) is unreachable: Connection is closed.' },
  internal: { when: 'An unexpected failure (logged with the request id).', message: 'internal error' },
  config_invalid: { when: `A setting does not validate at startup. ${NOT_HTTP}`, message: 'invalid UPLOAD_ORDER="random": expected one of oldest, newest, fair' },
  schema_too_new: { when: `The ledger is from a newer version. ${NOT_HTTP}`, message: 'ledger schema version 12 is newer than this build knows (11); upgrade image-spool' },
  spool_file_missing: { when: `An image's spooled file is gone before upload. ${NOT_HTTP}`, message: 'spooled file images/01M84CWPD0SMD5ZBY79VQQHV2V.jpg is missing' },
  spool_file_corrupt: { when: `An image's spooled file no longer matches its SHA-256. ${NOT_HTTP}`, message: 'spooled file images/01M84CWPD0SMD5ZBY79VQQHV2V.jpg has 300004 bytes sha256 0be1…, ledger says 300004 bytes sha256 81fc…' },
  upload_stalled: { when: `An upload to S3 made no progress for \`UPLOAD_STALL_TIMEOUT_MS\`. ${NOT_HTTP}`, message: 'no upload progress for 30012 ms (UPLOAD_STALL_TIMEOUT_MS=30000)' },
  upload_conflict: { when: `S3 holds other bytes under the image's key. ${NOT_HTTP}`, message: 's3://images/device_1/2026/11/23/01M84CWPD0SMD5ZBY79VQQHV2V.jpg already exists with other content (sha256 0be1…)' },
  invalid_state_transition: { when: `A ledger state change the state machine does not allow (a bug). ${NOT_HTTP}`, message: 'transition uploaded -> queued is not allowed' },
};

/** The `code` enum of the Error schema: every documented code. */
export const DOCUMENTED_ERROR_CODES = Object.keys(ERROR_DOCS) as ErrorCode[];

// ---------------------------------------------------------------------------------------------------
// Small builders.

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const json = (schema: Schema, example?: JsonValue): Record<string, MediaType> => ({
  'application/json': example === undefined ? { schema } : { schema, example },
});
const param = (name: string): Ref => ({ $ref: `#/components/parameters/${name}` });
const header = (name: string): Ref => ({ $ref: `#/components/headers/${name}` });

const PUBLIC: SecurityRequirement[] = [];
const ADMIN: SecurityRequirement[] = [{ adminBearer: [] }];
/** Who reads an image: the admin (Bearer or Basic), a signed read link, or (DEVICE_AUTH=token) the receipt's own device. */
const IMAGE_CREDENTIALS: SecurityRequirement[] = [{ adminBearer: [] }, { adminBasic: [] }, { readLink: [] }, { deviceBearer: [] }];
/** The status route also answers the id alone, with the outcome only. */
const IMAGE_STATUS_READERS: SecurityRequirement[] = [{}, ...IMAGE_CREDENTIALS];
const IMAGE_READ_AUTH = 'Credentials (`IMAGE_READ=credential`, the default): the admin token (`Authorization: Bearer`, or HTTP Basic with the token as the password), a signed read link (`?expires=…&sig=…` from `POST /admin/images/{id}/read-link`: `403 read_link_invalid` when altered or for another id, `410 read_link_expired` after its time), or with `DEVICE_AUTH=token` the token of the device whose receipt this is (another device\'s receipt: `404`, as an unknown id, so a token does not reveal which ids exist). A credential that proves nothing is `401`. `IMAGE_READ=open` with `DEVICE_AUTH=off` needs none, as before the setting existed.';

/** Headers an error answer carries besides Content-Type. */
const ERROR_HEADERS: { readonly [K in ErrorCode]?: Record<string, Header | Ref> } = {
  unauthorized: { 'WWW-Authenticate': header('WWW-Authenticate') },
  too_busy: { 'Retry-After': header('Retry-After') },
  ledger_busy: { 'Retry-After': header('Retry-After') },
  disk_full: { 'Retry-After': header('Retry-After') },
  shutting_down: { 'Retry-After': header('Retry-After') },
  image_too_large: { Connection: header('Connection-Close') },
  range_not_satisfiable: { 'Content-Range': { description: '`bytes */<size>`: the image\'s size.', schema: { type: 'string', pattern: '^bytes \\*/\\d+$' } } },
};

/**
 * Error answers for these codes, grouped under the status ERROR_STATUS gives each code (so a status can
 * never disagree with the code table), each with an example per code.
 */
export function errorResponses(...codes: ErrorCode[]): Record<string, ResponseObject> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERROR_STATUS[code], [...(byStatus.get(ERROR_STATUS[code]) ?? []), code]);
  const out: Record<string, ResponseObject> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const headers: Record<string, Header | Ref> = {};
    for (const code of list) Object.assign(headers, ERROR_HEADERS[code] ?? {});
    const examples: Record<string, Example> = {};
    for (const code of list) {
      const doc = ERROR_DOCS[code];
      examples[code] = { summary: doc?.when ?? code, value: { error: { code, message: doc?.message ?? code } } };
    }
    out[String(status)] = {
      description: list.map((code) => `\`${code}\`${ERROR_DOCS[code] ? `: ${ERROR_DOCS[code].when}` : ''}`).join('\n\n'),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: { 'application/json': { schema: ref('Error'), examples } },
    };
  }
  return out;
}

/** What any upload (POST /image, POST /u/{secret}) may be refused with, besides its own codes. */
const UPLOAD_ERRORS: ErrorCode[] = [
  'invalid_request', 'missing_device_id', 'invalid_device_id', 'missing_image', 'too_many_images', 'too_many_fields', 'invalid_idempotency_key',
  'request_timeout', 'image_too_large', 'unsupported_media_type', 'not_an_image', 'request_headers_too_large',
  'shutting_down', 'spool_degraded', 'too_busy', 'ledger_unavailable', 'ledger_busy', 'disk_full', 'internal',
];

// ---------------------------------------------------------------------------------------------------
// Examples shared by the document and docs/API.md.

const EXAMPLE_ID = '01M84CWPD0SMD5ZBY79VQQHV2V';
const EXAMPLE_SHA = '81fc2c2d2b0f6a3e5e7f0d9c8b6a5f4e3d2c1b0a99887766554433221100aabb';
const EXAMPLE_RECEIPT = { id: EXAMPLE_ID, device_id: 'device_1', sha256: EXAMPLE_SHA, bytes: 300004, content_type: 'image/jpeg', status: 'queued' };
const EXAMPLE_DUPLICATE = { ...EXAMPLE_RECEIPT, id: '01M84CWQ3T9J1W6K2YB8E0RZXA', device_id: 'device_2', duplicate: true, duplicate_of: EXAMPLE_ID };
const EXAMPLE_LINK = {
  token_id: '3f9c01a2b7de', device_id: 'kiosk-1', max_uploads: 20, uploads_used: 3, expires_at: '2026-11-25T10:00:00.000Z',
  created_at: '2026-11-23T10:00:00.000Z', revoked: false, revoked_at: null, state: 'active',
};

// ---------------------------------------------------------------------------------------------------
// Components.

const ISO_TIME: Schema = { type: 'string', format: 'date-time', description: 'ISO 8601, UTC (`2026-11-23T10:20:30.123Z`).' };
const COUNT: Schema = { type: 'integer', minimum: 0 };
/** Bytes per second; null when the budget is `off` (unlimited). */
const RATE_OR_NULL: Schema = { type: ['number', 'null'], minimum: 0 };

const schemas: Record<string, Schema> = {
  Error: {
    type: 'object',
    description: 'Every error answer. `code` is stable (clients branch on it); `message` is for people and may change.',
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: {
            type: 'string',
            enum: DOCUMENTED_ERROR_CODES,
            description: DOCUMENTED_ERROR_CODES.map((c) => `- \`${c}\` (${ERROR_STATUS[c]}): ${ERROR_DOCS[c]?.when ?? ''}`).join('\n'),
          },
          message: { type: 'string' },
        },
      },
    },
    examples: [{ error: { code: 'missing_image', message: 'the form has no "image" part' } }],
  },
  ImageId: { type: 'string', pattern: '^[0-9A-HJKMNP-TV-Z]{26}$', description: 'ULID: sorts by receive time.', examples: [EXAMPLE_ID] },
  DeviceId: {
    type: 'string',
    pattern: '^(?!\\.+$)[A-Za-z0-9._-]{1,64}$',
    description: 'Letters, digits, `.`, `_`, `-`; 1-64 characters, not only dots. Part of the S3 key.',
    examples: ['device_1'],
  },
  Sha256: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the image bytes, lowercase hex.' },
  ContentType: { type: 'string', enum: [...STORED_FORMATS.map((f) => f.contentType)], description: 'From the magic bytes, never from the client. `application/octet-stream`: bytes that are no recognised image, accepted only with `IMAGE_FORMATS=any`.' },
  ImageState: {
    type: 'string',
    enum: ['queued', 'uploading', 'uploaded', 'dead', 'evicted'],
    description: '`queued` -> `uploading` -> `uploaded`; `dead` after `MAX_ATTEMPTS` refusals by S3 (an operator may requeue it); `evicted` by `SPOOL_FULL_POLICY=evict-oldest` before upload.',
  },
  Receipt: {
    type: 'object',
    description: 'The answer to an accepted image: durable on disk and in the ledger. A resend gets the first receipt with `duplicate: true` and the image\'s current `status`. Bytes another device already sent get a new receipt (own `id`) with `duplicate: true` and `duplicate_of`: stored and uploaded once.',
    required: ['id', 'device_id', 'sha256', 'bytes', 'content_type', 'status'],
    additionalProperties: false,
    properties: {
      id: ref('ImageId'),
      device_id: ref('DeviceId'),
      sha256: ref('Sha256'),
      bytes: { type: 'integer', minimum: 1 },
      content_type: ref('ContentType'),
      status: ref('ImageState'),
      duplicate: { const: true, description: 'Present (and true) on a resend and on a duplicate: no second file, no second object.' },
      duplicate_of: { ...ref('ImageId'), description: 'The receipt whose stored bytes, upload and S3 object this one shares (the first device to send these bytes). `status` is that image\'s state.' },
    },
    examples: [EXAMPLE_RECEIPT, EXAMPLE_DUPLICATE],
  },
  Metadata: {
    type: 'object',
    description: 'Extracted right after the ack from the image\'s first 128 KiB. Each field is null when the image does not carry it; corrupt metadata never fails an ingest.',
    required: ['format', 'width', 'height', 'camera_make', 'camera_model', 'gps', 'captured_at', 'captured_at_utc', 'orientation'],
    additionalProperties: false,
    properties: {
      format: { type: 'string', enum: [...STORED_FORMATS.map((f) => f.name)], description: 'From the magic bytes (`binary`: no recognised image, `IMAGE_FORMATS=any`).' },
      width: { type: ['integer', 'null'], minimum: 1 },
      height: { type: ['integer', 'null'], minimum: 1 },
      camera_make: { type: ['string', 'null'], maxLength: 200 },
      camera_model: { type: ['string', 'null'], maxLength: 200 },
      gps: nullable({
        type: 'object',
        required: ['latitude', 'longitude'],
        additionalProperties: false,
        description: 'Signed decimal degrees (south and west are negative), 7 decimals.',
        properties: { latitude: { type: 'number', minimum: -90, maximum: 90 }, longitude: { type: 'number', minimum: -180, maximum: 180 } },
      }),
      captured_at: { type: ['string', 'null'], pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$', description: 'Capture time as written in EXIF (the camera\'s local time, no offset).' },
      captured_at_utc: { type: ['string', 'null'], format: 'date-time', description: 'The capture time in UTC, only when EXIF gives the offset (`OffsetTimeOriginal`).' },
      orientation: { type: ['integer', 'null'], minimum: 1, maximum: 8, description: 'EXIF orientation.' },
    },
  },
  ImageStatus: {
    type: 'object',
    description: 'The ledger\'s record of one receipt. For a duplicate, everything about the bytes (`state`, `s3_key`, attempts, times of the upload, `metadata`) is the original\'s; `id`, `device_id` and `received_at` are the receipt\'s own.',
    required: ['id', 'device_id', 'state', 'duplicate_of', 'sha256', 'bytes', 'content_type', 's3_key', 'attempts', 'last_error', 'received_at', 'next_attempt_at', 'uploaded_at', 'metadata_state', 'metadata_error', 'metadata'],
    additionalProperties: false,
    properties: {
      id: ref('ImageId'),
      device_id: ref('DeviceId'),
      state: ref('ImageState'),
      duplicate_of: { anyOf: [ref('ImageId'), { type: 'null' }], description: 'The original whose bytes this receipt shares; null for an original.' },
      sha256: ref('Sha256'),
      bytes: { type: 'integer', minimum: 1 },
      content_type: ref('ContentType'),
      s3_key: { type: 'string', description: '`{S3_PREFIX}{device_id}/{YYYY}/{MM}/{DD}/{id}.{ext}`, fixed at ingest.' },
      attempts: { ...COUNT, description: 'Upload attempts so far.' },
      last_error: { type: ['string', 'null'], description: 'Why the last attempt failed (or why the image is dead).' },
      received_at: ISO_TIME,
      next_attempt_at: { type: ['string', 'null'], format: 'date-time', description: 'When the uploader may try it next; only while `queued`, else null.' },
      uploaded_at: { type: ['string', 'null'], format: 'date-time' },
      metadata_state: {
        type: 'string', enum: ['pending', 'extracting', 'done', 'failed'],
        description: 'Metadata extraction: `pending` (not started), `extracting`, `done`, or `failed`: the image made its parser run out of time (METADATA_TIMEOUT_MS) or memory, and it is never tried again. The image itself is stored and uploaded either way.',
      },
      metadata_error: { type: ['string', 'null'], description: 'Why extraction failed (`timeout: ...`, `memory: ...`, `interrupted: ...`); null unless `metadata_state` is `failed`.' },
      metadata: { anyOf: [ref('Metadata'), { type: 'null' }], description: 'Null until extraction ran (right after the ack), and when it failed.' },
    },
  },
  ImageOutcome: {
    type: 'object',
    description: 'What the id alone shows (no credential): what became of the upload. No metadata, no `duplicate_of`, no `last_error` (error texts name other images\' files). For a duplicate, `s3_key` and the upload fields are the shared object\'s.',
    required: ['id', 'device_id', 'state', 'sha256', 'bytes', 'content_type', 's3_key', 'attempts', 'received_at', 'next_attempt_at', 'uploaded_at'],
    additionalProperties: false,
    properties: {
      id: ref('ImageId'),
      device_id: ref('DeviceId'),
      state: ref('ImageState'),
      sha256: ref('Sha256'),
      bytes: { type: 'integer', minimum: 1 },
      content_type: ref('ContentType'),
      s3_key: { type: 'string' },
      attempts: COUNT,
      received_at: ISO_TIME,
      next_attempt_at: { type: ['string', 'null'], format: 'date-time' },
      uploaded_at: { type: ['string', 'null'], format: 'date-time' },
    },
  },
  ReadLink: {
    type: 'object',
    required: ['image_id', 'url', 'status_url', 'expires_at'],
    additionalProperties: false,
    properties: {
      image_id: ref('ImageId'),
      url: { type: 'string', description: 'The image bytes: `/images/{id}?expires=<unix seconds>&sig=<HMAC-SHA256, base64url>`, absolute when the request named its Host. A credential: hand it on like one.' },
      status_url: { type: 'string', description: 'The full record with metadata, signed by the same signature.' },
      expires_at: ISO_TIME,
    },
  },
  ReadLinkRequest: {
    type: 'object',
    description: 'Optional: an empty body gives a link for 1 hour. An unknown field is refused (400).',
    additionalProperties: false,
    properties: {
      expires_in: {
        description: '`90s`, `30m`, `48h`, `7d`, or whole seconds (number or string); 1 second to 30 days. Default 1 hour.',
        anyOf: [{ type: 'integer', minimum: 1, maximum: 2592000 }, { type: 'string', pattern: '^\\s*\\d{1,10}\\s*[smhdSMHD]?\\s*$' }],
      },
    },
    examples: [{ expires_in: '24h' }],
  },
  Backlog: {
    type: 'object',
    description: 'What is waiting and how long it takes to drain at the budget in force.',
    required: ['queued', 'uploading', 'uploaded', 'dead', 'evicted', 'duplicate', 'backlog_bytes', 'oldest_queued_at', 'rate_bytes_per_sec', 'drain_eta_seconds'],
    additionalProperties: false,
    properties: {
      queued: COUNT,
      uploading: COUNT,
      uploaded: COUNT,
      dead: COUNT,
      evicted: COUNT,
      duplicate: { ...COUNT, description: 'Receipts whose bytes another receipt holds (cross-device dedup): no file, no upload of their own.' },
      backlog_bytes: { ...COUNT, description: 'Bytes of `queued` and `uploading` images.' },
      oldest_queued_at: { type: ['string', 'null'], format: 'date-time', description: '`received_at` of the oldest waiting image; null when none waits.' },
      rate_bytes_per_sec: { ...RATE_OR_NULL, description: 'The budget uploads may use now; null when unlimited.' },
      drain_eta_seconds: { type: ['integer', 'null'], minimum: 0, description: '`backlog_bytes` / rate, rounded up; null when unlimited.' },
    },
  },
  UplinkState: {
    type: 'object',
    description: 'The `UPLINK_SHARE` estimate (docs/SHAPING.md).',
    required: ['share', 'capacity_bytes_per_sec', 'base_delay_ms', 'probes', 'last_probe_bytes_per_sec', 'train_bytes'],
    additionalProperties: false,
    properties: {
      share: { type: 'number', minimum: 0, maximum: 1, description: 'Fraction of the estimated capacity uploads may use.' },
      capacity_bytes_per_sec: { type: ['number', 'null'], minimum: 0, description: 'Estimated uplink capacity; null before the first probe.' },
      base_delay_ms: { type: ['number', 'null'], minimum: 0, description: 'Least wait for S3\'s answer over the last minute.' },
      probes: COUNT,
      last_probe_bytes_per_sec: { type: ['number', 'null'], minimum: 0 },
      train_bytes: { ...COUNT, description: 'Bytes of the next probe train.' },
    },
  },
  BandwidthState: {
    type: 'object',
    description: 'The upload budget.',
    required: ['rate_bytes_per_sec', 'rate', 'source', 'configured_rate_bytes_per_sec', 'limited_by', 'schedule', 'override', 'uplink', 'budget'],
    additionalProperties: false,
    properties: {
      rate_bytes_per_sec: { ...RATE_OR_NULL, description: 'What uploads may use now: the configured cap, or less when `UPLINK_SHARE` limits it. Null when unlimited.' },
      rate: { type: 'string', description: 'The same for people: `100Mbit/s`, `800kbit/s`, or `off`.', examples: ['100Mbit/s'] },
      source: { type: 'string', enum: ['schedule', 'override'], description: 'Where the configured cap comes from.' },
      configured_rate_bytes_per_sec: { ...RATE_OR_NULL, description: 'The operator\'s cap (override, else the timetable entry in force); null when `off`.' },
      limited_by: { type: 'string', enum: ['cap', 'uplink_share', 'budget_fallback'], description: '`budget_fallback`: `BUDGET_BACKEND=redis` and Redis unreachable: this gateway uses cap / `GATEWAY_COUNT`.' },
      schedule: { type: 'string', description: '`UPLOAD_BWLIMIT` as configured.', examples: ['08:00,40Mbit 18:00,100Mbit'] },
      override: { type: ['string', 'null'], description: 'The override set by `PUT /admin/bwlimit` (kept across restarts), or null.' },
      uplink: { anyOf: [ref('UplinkState'), { type: 'null' }], description: 'Null unless `UPLINK_SHARE` is set.' },
      budget: { anyOf: [ref('SharedBudgetState'), { type: 'null' }], description: 'Null unless `BUDGET_BACKEND=redis`.' },
    },
  },
  SharedBudgetState: {
    type: 'object',
    description: '`BUDGET_BACKEND=redis`: the gateways draw from one bucket in Redis (docs/SCALING.md).',
    required: ['backend', 'mode', 'gateways', 'redis', 'lease_ms'],
    additionalProperties: false,
    properties: {
      backend: { const: 'redis' },
      mode: { type: 'string', enum: ['shared', 'fallback'], description: '`shared`: leases from Redis; `fallback`: Redis unreachable, this gateway uses cap / `GATEWAY_COUNT` on its own and retries Redis every second.' },
      gateways: { type: 'integer', minimum: 1, description: '`GATEWAY_COUNT`.' },
      redis: { type: 'string', description: '`REDIS_URL` without credentials.', examples: ['redis://10.0.0.5:6379'] },
      lease_ms: { type: 'integer', minimum: 1, description: 'Largest lease, in ms of the rate.' },
    },
  },
  BandwidthRequest: {
    type: 'object',
    required: ['rate'],
    properties: {
      rate: {
        type: ['string', 'null'],
        description: 'One rate with its unit (`20Mbit`, `12.5MB`, `512KiB`) or `off`, in force at once and kept across restarts; null returns to the `UPLOAD_BWLIMIT` schedule. A timetable is not accepted here (`400 invalid_rate`).',
      },
    },
    examples: [{ rate: '20Mbit' }, { rate: null }],
  },
  Stats: {
    type: 'object',
    description: 'Catalogue and pipeline figures, read from counters kept by triggers (constant time at any ledger size).',
    required: ['most_popular_format', 'formats', 'top_camera_models', 'unknown_camera_model', 'received_per_day', 'uploaded_per_day', 'receipts', 'unique_images', 'duplicates', 'backlog', 'uploaded', 'dead', 'evicted'],
    additionalProperties: false,
    properties: {
      most_popular_format: nullable({
        type: 'object', required: ['content_type', 'images'], additionalProperties: false,
        properties: { content_type: ref('ContentType'), images: COUNT },
      }),
      formats: {
        type: 'array',
        description: 'Every format received, most images first.',
        items: { type: 'object', required: ['content_type', 'images'], additionalProperties: false, properties: { content_type: ref('ContentType'), images: COUNT } },
      },
      top_camera_models: {
        type: 'array', maxItems: 10, description: 'The 10 most frequent EXIF camera models, most images first.',
        items: { type: 'object', required: ['model', 'images'], additionalProperties: false, properties: { model: { type: 'string' }, images: COUNT } },
      },
      unknown_camera_model: { ...COUNT, description: 'Images without a camera model (none in EXIF, or not extracted yet).' },
      received_per_day: {
        type: 'array', minItems: 30, maxItems: 30, description: 'Images received per UTC day (every receipt, duplicates included, whether uploaded yet or not): the last 30 days, oldest first, zeros included.',
        items: { type: 'object', required: ['date', 'images', 'bytes'], additionalProperties: false, properties: { date: { type: 'string', format: 'date' }, images: COUNT, bytes: COUNT } },
      },
      uploaded_per_day: {
        type: 'array', minItems: 30, maxItems: 30, description: 'Images uploaded to S3 per UTC day (by upload time): the same 30 days.',
        items: { type: 'object', required: ['date', 'images', 'bytes'], additionalProperties: false, properties: { date: { type: 'string', format: 'date' }, images: COUNT, bytes: COUNT } },
      },
      receipts: { ...COUNT, description: 'Ledger rows (acknowledged images).' },
      unique_images: { ...COUNT, description: 'Distinct SHA-256 among them.' },
      duplicates: { ...COUNT, description: '`receipts` - `unique_images` (the same bytes from several devices).' },
      backlog: { type: 'object', required: ['images', 'bytes'], additionalProperties: false, properties: { images: COUNT, bytes: COUNT } },
      uploaded: { type: 'object', required: ['images', 'bytes'], additionalProperties: false, properties: { images: COUNT, bytes: COUNT } },
      dead: COUNT,
      evicted: COUNT,
    },
  },
  Status: {
    type: 'object',
    description: 'What an operator watches, in one answer (`image-spool status --json` prints the same object; with `service: "down"` when it read the ledger of a stopped service).',
    required: ['service', 'at', 'backlog', 'totals', 'egress_bytes_per_sec', 'cap', 'drain_eta_seconds', 'disk', 'ledger'],
    additionalProperties: false,
    properties: {
      service: { type: 'string', enum: ['up', 'down'] },
      at: ISO_TIME,
      backlog: {
        type: 'object',
        required: ['images', 'bytes', 'queued', 'uploading', 'oldest_queued_at', 'oldest_queued_age_seconds'],
        additionalProperties: false,
        properties: {
          images: { ...COUNT, description: '`queued` + `uploading`.' },
          bytes: { ...COUNT, description: 'Their bytes.' },
          queued: COUNT,
          uploading: COUNT,
          oldest_queued_at: { type: ['string', 'null'], format: 'date-time', description: '`received_at` of the oldest waiting image; null when none waits.' },
          oldest_queued_age_seconds: { type: ['integer', 'null'], minimum: 0 },
        },
      },
      totals: { type: 'object', required: ['uploaded', 'dead', 'evicted', 'duplicates'], additionalProperties: false, properties: { uploaded: COUNT, dead: COUNT, evicted: COUNT, duplicates: { ...COUNT, description: 'Receipts of bytes another receipt holds: stored and uploaded once.' } } },
      egress_bytes_per_sec: { type: ['integer', 'null'], minimum: 0, description: 'Bytes per second through the upload budget (bodies and request overhead) over the last ~5 s; null when the service is down.' },
      cap: {
        type: 'object',
        required: ['rate_bytes_per_sec', 'rate', 'configured_rate_bytes_per_sec', 'source', 'limited_by', 'schedule', 'override'],
        additionalProperties: false,
        properties: {
          rate_bytes_per_sec: { ...RATE_OR_NULL, description: 'What uploads may use now; null when unlimited.' },
          rate: { type: 'string', examples: ['100Mbit/s'] },
          configured_rate_bytes_per_sec: RATE_OR_NULL,
          source: { type: 'string', enum: ['schedule', 'override'], description: '`override` (`PUT /admin/bwlimit`) or `schedule` (`UPLOAD_BWLIMIT`, set or its default).' },
          limited_by: { type: 'string', enum: ['cap', 'uplink_share'] },
          schedule: { type: 'string' },
          override: { type: ['string', 'null'] },
        },
      },
      drain_eta_seconds: { type: ['integer', 'null'], minimum: 0, description: '`backlog.bytes` / rate, rounded up; null when unlimited.' },
      disk: {
        type: 'object',
        required: ['spool_bytes', 'spool_max_bytes', 'free_bytes', 'total_bytes'],
        additionalProperties: false,
        properties: {
          spool_bytes: { ...COUNT, description: 'Image bytes the spool holds (queued, uploading, dead; uploaded too with `KEEP_UPLOADED_FILES`).' },
          spool_max_bytes: { type: ['integer', 'null'], minimum: 0, description: '`SPOOL_MAX_BYTES`; null when unlimited.' },
          free_bytes: { ...COUNT, description: 'Free space on the spool\'s filesystem (for unprivileged users).' },
          total_bytes: COUNT,
        },
      },
      ledger: {
        type: 'object',
        description: 'The ledger\'s files, and what other processes\' transactions (an operator\'s `sqlite3`, a backup) do to them.',
        required: ['wal_bytes', 'wal_max_bytes', 'wal_pinned', 'locked_by', 'readers'],
        additionalProperties: false,
        properties: {
          wal_bytes: { ...COUNT, description: 'Size of `ledger.db-wal` on disk.' },
          wal_max_bytes: { ...COUNT, description: '`LEDGER_WAL_MAX_BYTES`: the WAL is checkpointed back under it once no reader pins it.' },
          wal_pinned: { type: ['boolean', 'null'], description: 'A read transaction keeps the WAL over the limit; null when not known (service down).' },
          locked_by: { type: ['array', 'null'], items: { type: 'string' }, description: 'Other processes holding the write lock (`pid 4242 (sqlite3)`): images get `503 ledger_busy` meanwhile. Null where `/proc/locks` cannot tell.' },
          readers: { type: ['array', 'null'], items: { type: 'string' }, description: 'Other processes in a read transaction on a WAL snapshot. Null where `/proc/locks` cannot tell.' },
        },
      },
    },
  },
  RequeueRequest: {
    oneOf: [
      { type: 'object', required: ['state'], properties: { state: { const: 'dead' } }, description: 'Every dead image.' },
      { type: 'object', required: ['ids'], properties: { ids: { type: 'array', minItems: 1, maxItems: 10000, items: { type: 'string' } } }, description: 'These images (each must be dead).' },
    ],
    examples: [{ state: 'dead' }, { ids: [EXAMPLE_ID] }],
  },
  RequeueResult: {
    type: 'object',
    required: ['requeued', 'skipped'],
    additionalProperties: false,
    properties: {
      requeued: { type: 'array', items: ref('ImageId'), description: 'Back in the queue with a fresh attempt count.' },
      skipped: {
        type: 'array',
        description: 'Not requeued, with the reason: `no such image`, `state is <state>, not dead`, `its spooled file is gone`, `changed state meanwhile`.',
        items: { type: 'object', required: ['id', 'reason'], additionalProperties: false, properties: { id: { type: 'string' }, reason: { type: 'string' } } },
      },
    },
  },
  LinkRequest: {
    type: 'object',
    description: 'Strict: an unknown field is refused (400), so a typo cannot create an unlimited link.',
    required: ['expires_in'],
    additionalProperties: false,
    properties: {
      expires_in: {
        description: '`90s`, `30m`, `48h`, `7d`, or whole seconds (number or string); 1 second to 30 days.',
        anyOf: [{ type: 'integer', minimum: 1, maximum: 2592000 }, { type: 'string', pattern: '^\\s*\\d{1,10}\\s*[smhdSMHD]?\\s*$' }],
      },
      max_uploads: { type: ['integer', 'null'], minimum: 1, maximum: 10000, description: 'Images the link may store; absent or null: until expiry.' },
      device_id: { anyOf: [ref('DeviceId'), { type: 'null' }], description: 'Fixes the device; absent or null lets each form name it.' },
    },
    examples: [{ expires_in: '48h', max_uploads: 20, device_id: 'kiosk-1' }],
  },
  LinkCreated: {
    type: 'object',
    required: ['url', 'token_id', 'expires_at', 'max_uploads', 'device_id'],
    additionalProperties: false,
    properties: {
      url: { type: 'string', description: 'Where to POST images: absolute (`http://<Host>/u/<secret>`) when the request named its Host, else `/u/<secret>`. The secret appears here and nowhere else.' },
      token_id: ref('LinkTokenId'),
      expires_at: ISO_TIME,
      max_uploads: { type: ['integer', 'null'], minimum: 1 },
      device_id: { anyOf: [ref('DeviceId'), { type: 'null' }] },
    },
  },
  LinkTokenId: { type: 'string', pattern: '^[0-9a-f]{12}$', description: 'The public name of a link, for listing and revoking; it opens nothing.', examples: ['3f9c01a2b7de'] },
  Link: {
    type: 'object',
    description: 'An upload link as the admin API shows it: never the secret or its hash.',
    required: ['token_id', 'device_id', 'max_uploads', 'uploads_used', 'expires_at', 'created_at', 'revoked', 'revoked_at', 'state'],
    additionalProperties: false,
    properties: {
      token_id: ref('LinkTokenId'),
      device_id: { anyOf: [ref('DeviceId'), { type: 'null' }] },
      max_uploads: { type: ['integer', 'null'], minimum: 1 },
      uploads_used: COUNT,
      expires_at: ISO_TIME,
      created_at: ISO_TIME,
      revoked: { type: 'boolean' },
      revoked_at: { type: ['string', 'null'], format: 'date-time' },
      state: { type: 'string', enum: ['active', 'expired', 'used_up', 'revoked'], description: 'Revoked wins over expired, expired over used up.' },
    },
    examples: [EXAMPLE_LINK],
  },
  LinkList: {
    type: 'object', required: ['links'], additionalProperties: false,
    properties: { links: { type: 'array', items: ref('Link') } },
  },
  ReadinessCheck: {
    type: 'object', required: ['ok', 'message'], additionalProperties: false,
    properties: { ok: { type: 'boolean' }, message: { type: 'string' } },
  },
  Readiness: {
    type: 'object',
    description: 'Ready: an image sent now would be accepted and uploaded.',
    required: ['status', 'failed', 'checks'],
    additionalProperties: false,
    properties: {
      status: { type: 'string', enum: ['ready', 'not_ready'] },
      failed: { type: 'array', items: { type: 'string', enum: ['ledger', 'spool', 'uploader'] }, description: 'The checks that failed (empty when ready).' },
      checks: {
        type: 'object', required: ['ledger', 'spool', 'uploader'], additionalProperties: false,
        properties: {
          ledger: { ...ref('ReadinessCheck'), description: 'The ledger takes its write lock.' },
          spool: { ...ref('ReadinessCheck'), description: 'Not degraded, a file can be created in the images directory, room under `SPOOL_MAX_BYTES` and `SPOOL_MIN_FREE_BYTES`.' },
          uploader: { ...ref('ReadinessCheck'), description: 'Not paused by a systemic S3 failure (credentials, bucket, clock, endpoint).' },
          budget: { ...ref('ReadinessCheck'), description: 'Only with `BUDGET_BACKEND=redis`. Always `ok`: without Redis the gateway still takes and uploads images, at cap / `GATEWAY_COUNT`; the message says `shared (redis)` or `local fallback (redis unreachable)`.' },
        },
      },
    },
  },
  Health: {
    type: 'object',
    required: ['status'],
    additionalProperties: false,
    properties: {
      status: { type: 'string', enum: ['ok', 'error'] },
      error: {
        type: 'object', required: ['code', 'message'], additionalProperties: false, description: 'Only with `status: "error"`.',
        properties: { code: { const: 'ledger_unavailable' }, message: { type: 'string' } },
      },
    },
  },
};

const parameters: Record<string, Parameter> = {
  ImageId: { name: 'id', in: 'path', required: true, description: 'The image id from its receipt.', schema: ref('ImageId'), example: EXAMPLE_ID },
  ReadLinkExpires: { name: 'expires', in: 'query', required: false, description: 'A signed read link\'s expiry (unix seconds); goes with `sig`.', schema: { type: 'string', pattern: '^\\d{1,12}$' } },
  ReadLinkSig: { name: 'sig', in: 'query', required: false, description: 'A signed read link\'s signature (43 base64url characters); goes with `expires`.', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' } },
  IdempotencyKey: {
    name: 'Idempotency-Key', in: 'header', required: false,
    description: '1-200 visible ASCII characters (a UUID is typical). A resend with the same key and bytes gets the first receipt; the same key with other bytes is `409 idempotency_key_reused`. Keys are per device.',
    schema: { type: 'string', pattern: '^[!-~]{1,200}$' },
  },
  RequestId: {
    name: 'X-Request-Id', in: 'header', required: false,
    description: 'Echoed in the `X-Request-Id` answer header and the log; one is generated when absent.',
    schema: { type: 'string' },
  },
};

const headers: Record<string, Header> = {
  'X-Request-Id': { description: 'The request id (the one sent, or a generated UUID); it is in every log line about the request.', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 1 } },
  'WWW-Authenticate': { description: '`Bearer` (admin) or `Bearer realm="image-spool devices"` (device token).', schema: { type: 'string' } },
  'Connection-Close': { description: '`close`: the rest of the body is not read.', schema: { const: 'close' } },
  Location: { description: '`/images/{id}`.', schema: { type: 'string' } },
  ETag: { description: 'The image\'s SHA-256 in quotes.', schema: { type: 'string', pattern: '^"[0-9a-f]{64}"$' } },
};

const securitySchemes: Record<string, SecurityScheme> = {
  adminBearer: {
    type: 'http', scheme: 'bearer',
    description: '`Authorization: Bearer <admin token>` on every `/admin/*` endpoint (and it reads any image, its metadata and the full status view): `ADMIN_TOKEN`, or the token generated on first start into `$SPOOL_DIR/admin.token` (0600). Wrong or missing: `401 unauthorized` with `WWW-Authenticate: Bearer`.',
  },
  adminBasic: {
    type: 'http', scheme: 'basic',
    description: 'HTTP Basic with any user name and the admin token as the password, for browsers: the full status view (`/full/`) asks for it with `WWW-Authenticate: Basic realm="image-spool admin"`. Also accepted on image reads and `/status.json`; not on `/admin/*`.',
  },
  readLink: {
    type: 'apiKey', in: 'query', name: 'sig',
    description: 'A signed read link: `?expires=<unix seconds>&sig=<base64url HMAC-SHA256 of the id and expiry>` on `GET /images/{id}` and `GET /images/{id}/status`, from `POST /admin/images/{id}/read-link` or `image-spool read-link ID`. Opens that one image until `expires`; the key is `$SPOOL_DIR/read-link.key` (generated on first start, 0600; delete it and restart to void every link).',
  },
  deviceBearer: {
    type: 'http', scheme: 'bearer', bearerFormat: 'isd_<43 base64url characters>',
    description: 'With `DEVICE_AUTH=token`: `Authorization: Bearer <device token>` on `POST /image` proves the device (`image-spool tokens add <device_id>` creates one; the ledger keeps only its SHA-256). Missing, unknown or revoked: `401 unauthorized`, answered before the body is read. The form may then leave `device_id` out; another value than the token\'s device is `403 device_mismatch`. With `DEVICE_AUTH=off` (the default) no credential is needed and the header is ignored.',
  },
};

// ---------------------------------------------------------------------------------------------------
// Paths.

const IMAGE_PART: Schema = {
  type: 'string', contentMediaType: 'application/octet-stream',
  description: 'The image, as a file part (streamed to disk, up to `MAX_IMAGE_BYTES`) or a plain field value up to 1 MiB. One of `IMAGE_FORMATS` (by default JPEG, PNG, WebP, GIF, TIFF, HEIC, AVIF, JPEG XL or BMP), recognised by its magic bytes; `IMAGE_FORMATS=any` takes any bytes.',
};

const receiptResponses = (accepted: string, duplicate: string, schema: Schema, example: JsonValue, duplicateExample: JsonValue): Record<string, ResponseObject> => ({
  '200': { description: duplicate, headers: { 'X-Request-Id': header('X-Request-Id') }, content: json(schema, duplicateExample) },
  '202': { description: accepted, headers: { 'X-Request-Id': header('X-Request-Id') }, content: json(schema, example) },
});

const paths: Record<string, PathItem> = {
  '/image': {
    post: {
      operationId: 'postImage',
      summary: 'Upload one image',
      tags: ['devices'],
      description: 'Answers `202` only after the file is fsynced under its final name, its directory is fsynced and the ledger row has committed: an ack survives a power cut. A resend (same `device_id` and same bytes, or the same `Idempotency-Key`) gets the first receipt with `200` and `"duplicate": true`; no second file, no second object. If the gateway lost the first copy (spool file deleted or corrupt, or evicted), the resend stores the bytes again: `202`, the first receipt, `queued`. Bytes another device already sent (same SHA-256, still held) get a new receipt with `202`, `"duplicate": true` and `"duplicate_of"`; no second file, no second object. A refused upload leaves no file and no row.\n\n'
        + 'Two body shapes give the same answers: `multipart/form-data` (what cameras send; streamed to disk) and `application/json` with the image in base64 (decoded to disk as it streams). Anything else is `415 unsupported_media_type`.\n\n'
        + 'Credentials: none with `DEVICE_AUTH=off` (the default); a device token (`deviceBearer`) with `DEVICE_AUTH=token`.',
      security: [{}, { deviceBearer: [] }],
      parameters: [param('IdempotencyKey'), param('RequestId')],
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['image'],
              properties: {
                device_id: { ...ref('DeviceId'), description: 'Which device sent it. Required unless a device token names the device; given once (twice with different values is `400 invalid_request`).' },
                image: IMAGE_PART,
              },
            },
          },
          'application/json': {
            schema: {
              type: 'object',
              description: 'The same upload as JSON, for clients that cannot send multipart. The base64 is decoded into the spool as it streams (members other than `image` may hold at most 64 KiB together). A body longer than the base64 of `MAX_IMAGE_BYTES` (`ceil(MAX_IMAGE_BYTES / 3) * 4 + 4096` bytes) is refused with `413` before decoding: by `Content-Length` before a byte is read, or while it streams. Other fields are ignored.',
              required: ['image'],
              properties: {
                device_id: { ...ref('DeviceId'), description: 'As in the multipart form: required unless a device token names the device. Not a string: `400 invalid_device_id`.' },
                image: {
                  type: 'string', contentEncoding: 'base64', contentMediaType: 'application/octet-stream', pattern: '^[A-Za-z0-9+/]*={0,2}$',
                  description: 'The image bytes in standard base64 with padding (length a multiple of 4; not base64url, no line breaks: else `400 invalid_request`). Absent or not a string: `400 missing_image`. Decoded, the same checks as a multipart `image` part (`413` over `MAX_IMAGE_BYTES`, `415 not_an_image`).',
                },
              },
            },
            example: { device_id: 'device_1', image: '/9j/4AAQSkZJRgABAQAAAQABAAA=' },
          },
        },
      },
      responses: {
        ...receiptResponses(
          'Durable: the file is fsynced and renamed, its directory fsynced, its ledger row committed. Or a duplicate of bytes already held: its own ledger row committed, `duplicate_of` set. Or a resend of bytes the gateway had lost: stored again, the first receipt, `queued`.',
          'A resend: the first receipt, with `"duplicate": true` and the image\'s current `status`.',
          ref('Receipt'), EXAMPLE_RECEIPT, { ...EXAMPLE_RECEIPT, status: 'uploaded', duplicate: true },
        ),
        ...errorResponses(...UPLOAD_ERRORS, 'idempotency_key_reused', 'unauthorized', 'device_mismatch'),
      },
    },
  },
  '/images': {
    get: {
      operationId: 'getBacklog',
      summary: 'Backlog summary',
      tags: ['images'],
      description: 'Counts by state, bytes waiting, the oldest waiting image, the budget in force and how long the backlog takes to drain at it. Public (no credential): counts, bytes and times only, no image or device id.',
      security: PUBLIC,
      responses: {
        '200': { description: 'The backlog.', content: json(ref('Backlog'), { queued: 1200, uploading: 4, uploaded: 98000, dead: 2, evicted: 0, duplicate: 106, backlog_bytes: 4_812_000_000, oldest_queued_at: '2026-11-23T08:01:12.345Z', rate_bytes_per_sec: 12_500_000, drain_eta_seconds: 385 }) },
        ...errorResponses('ledger_unavailable', 'internal'),
      },
    },
  },
  '/images/{id}/status': {
    get: {
      operationId: 'getImageStatus',
      summary: 'One image\'s ledger record and metadata (with a credential), or its upload\'s outcome (the id alone)',
      tags: ['images'],
      description: 'With a credential: the whole record (`ImageStatus`). Without one, the id alone (as a device that uploaded the image holds it) gives the outcome (`ImageOutcome`): state, attempts, `s3_key`, times, and nothing from the image\'s metadata. With `DEVICE_AUTH=token` there is no answer without a credential (`401`).\n\n' + IMAGE_READ_AUTH,
      security: IMAGE_STATUS_READERS,
      parameters: [param('ImageId'), param('ReadLinkExpires'), param('ReadLinkSig')],
      responses: {
        '200': {
          description: 'The record (with a credential; `metadata` is null until extracted, right after the ack, and when extraction failed: see `metadata_state`), or the outcome (the id alone).',
          content: json({ oneOf: [ref('ImageStatus'), ref('ImageOutcome')] }, {
            id: EXAMPLE_ID, device_id: 'device_1', state: 'uploaded', duplicate_of: null, sha256: EXAMPLE_SHA, bytes: 300004, content_type: 'image/jpeg',
            s3_key: `device_1/2026/11/23/${EXAMPLE_ID}.jpg`, attempts: 1, last_error: null, received_at: '2026-11-23T10:20:31.120Z',
            next_attempt_at: null, uploaded_at: '2026-11-23T10:20:33.870Z', metadata_state: 'done', metadata_error: null,
            metadata: { format: 'jpeg', width: 4032, height: 3024, camera_make: 'Acme', camera_model: 'TrailCam 4', gps: { latitude: 47.3769, longitude: 8.5417 }, captured_at: '2026-11-23T11:20:30', captured_at_utc: '2026-11-23T10:20:30.000Z', orientation: 1 },
          }),
        },
        ...errorResponses('not_found', 'unauthorized', 'read_link_invalid', 'read_link_expired', 'internal'),
      },
    },
  },
  '/images/{id}': {
    get: {
      operationId: 'getImage',
      summary: 'The image bytes',
      tags: ['images'],
      description: 'From the spool while the file is there, else streamed from S3 (never buffered); a duplicate serves its original\'s bytes. `ETag` is the SHA-256: `If-None-Match` gives `304`. One `Range` gives `206` (`416` when unsatisfiable; several ranges: the whole image). `HEAD` gives the headers alone.\n\n' + IMAGE_READ_AUTH,
      security: IMAGE_CREDENTIALS,
      parameters: [
        param('ImageId'), param('ReadLinkExpires'), param('ReadLinkSig'),
        { name: 'If-None-Match', in: 'header', required: false, description: 'An ETag (or `*`): `304` when it matches.', schema: { type: 'string' } },
        { name: 'Range', in: 'header', required: false, description: 'One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`.', schema: { type: 'string' }, example: 'bytes=0-1023' },
      ],
      responses: {
        '200': {
          description: 'The whole image.',
          headers: {
            ETag: header('ETag'),
            'Content-Length': { description: 'The image size.', schema: { type: 'integer' } },
            'Accept-Ranges': { description: '`bytes`.', schema: { const: 'bytes' } },
            'Cache-Control': { description: '`private, max-age=31536000, immutable`: an id\'s bytes never change.', schema: { type: 'string' } },
          },
          content: { 'image/*': { schema: { type: 'string', contentMediaType: 'image/*', description: '`Content-Type` is the image\'s (`image/jpeg`, ...).' } } },
        },
        '206': {
          description: 'The requested range.',
          headers: {
            ETag: header('ETag'),
            'Content-Range': { description: '`bytes a-b/size`.', schema: { type: 'string', pattern: '^bytes \\d+-\\d+/\\d+$' } },
            'Content-Length': { description: 'The range\'s length.', schema: { type: 'integer' } },
          },
          content: { 'image/*': { schema: { type: 'string', contentMediaType: 'image/*' } } },
        },
        '304': { description: '`If-None-Match` matched: no body.', headers: { ETag: header('ETag') } },
        ...errorResponses('not_found', 'image_gone', 'range_not_satisfiable', 'unauthorized', 'read_link_invalid', 'read_link_expired', 'internal'),
      },
    },
  },
  '/healthz': {
    get: {
      operationId: 'getHealth',
      summary: 'Liveness',
      tags: ['operations'],
      description: '`200` while the process runs and its ledger answers a query. Public: the status, or the ledger\'s error.',
      security: PUBLIC,
      responses: {
        '200': { description: 'Alive.', content: json(ref('Health'), { status: 'ok' }) },
        '503': { description: 'The ledger does not answer.', content: json(ref('Health'), { status: 'error', error: { code: 'ledger_unavailable', message: 'database disk image is malformed' } }) },
      },
    },
  },
  '/readyz': {
    get: {
      operationId: 'getReadiness',
      summary: 'Readiness',
      tags: ['operations'],
      description: '`200` when an image sent now would be accepted and uploaded; `503` names the check that failed and why. Public: image ids in the messages are shortened.',
      security: PUBLIC,
      responses: {
        '200': { description: 'Ready.', content: json(ref('Readiness'), { status: 'ready', failed: [], checks: { ledger: { ok: true, message: 'writable' }, spool: { ok: true, message: 'room for images' }, uploader: { ok: true, message: 'uploading' } } }) },
        '503': { description: 'Not ready.', content: json(ref('Readiness'), { status: 'not_ready', failed: ['uploader'], checks: { ledger: { ok: true, message: 'writable' }, spool: { ok: true, message: 'room for images' }, uploader: { ok: false, message: 'paused: InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.' } } }) },
      },
    },
  },
  '/admin/bwlimit': {
    get: {
      operationId: 'getBandwidth',
      summary: 'The upload budget',
      tags: ['admin'],
      security: ADMIN,
      responses: {
        '200': { description: 'The budget in force and where it comes from.', content: json(ref('BandwidthState'), { rate_bytes_per_sec: 12_500_000, rate: '100Mbit/s', source: 'schedule', configured_rate_bytes_per_sec: 12_500_000, limited_by: 'cap', schedule: '100Mbit', override: null, uplink: null, budget: null }) },
        ...errorResponses('unauthorized', 'internal'),
      },
    },
    put: {
      operationId: 'putBandwidth',
      summary: 'Override the upload budget, or return to the schedule',
      tags: ['admin'],
      description: 'Applies at once and survives restarts. `{"rate": null}` returns to `UPLOAD_BWLIMIT`. CLI: `image-spool bwlimit 20Mbit`, `image-spool bwlimit --clear`. With `BUDGET_BACKEND=redis` the override is stored in Redis and every gateway applies it within a second; `503 budget_unavailable` when Redis cannot be reached (nothing changed).',
      security: ADMIN,
      requestBody: { required: true, content: json(ref('BandwidthRequest'), { rate: '20Mbit' }) },
      responses: {
        '200': { description: 'The new state.', content: json(ref('BandwidthState'), { rate_bytes_per_sec: 2_500_000, rate: '20Mbit/s', source: 'override', configured_rate_bytes_per_sec: 2_500_000, limited_by: 'cap', schedule: '100Mbit', override: '20Mbit', uplink: null, budget: null }) },
        ...errorResponses('invalid_request', 'invalid_rate', 'unauthorized', 'ledger_unavailable', 'budget_unavailable', 'internal'),
      },
    },
  },
  '/admin/requeue': {
    post: {
      operationId: 'requeue',
      summary: 'Send dead images back to the queue',
      tags: ['admin'],
      description: 'Dead images go back to the queue with a fresh attempt count. Ids that are unknown, not dead, or whose file is gone are skipped with the reason. CLI: `image-spool requeue --dead`, `image-spool requeue ID...`.',
      security: ADMIN,
      requestBody: { required: true, content: json(ref('RequeueRequest'), { state: 'dead' }) },
      responses: {
        '200': { description: 'What was requeued and what was skipped.', content: json(ref('RequeueResult'), { requeued: [EXAMPLE_ID], skipped: [{ id: '01M84D0000000000000000000X', reason: 'state is uploaded, not dead' }] }) },
        ...errorResponses('invalid_request', 'unauthorized', 'ledger_unavailable', 'internal'),
      },
    },
  },
  '/admin/stats': {
    get: {
      operationId: 'getStats',
      summary: 'Catalogue and pipeline statistics',
      tags: ['admin'],
      security: ADMIN,
      responses: {
        '200': {
          description: 'The figures.',
          content: json(ref('Stats'), {
            most_popular_format: { content_type: 'image/jpeg', images: 91000 }, formats: [{ content_type: 'image/jpeg', images: 91000 }, { content_type: 'image/png', images: 8206 }],
            top_camera_models: [{ model: 'TrailCam 4', images: 52000 }], unknown_camera_model: 1200,
            received_per_day: Array.from({ length: 30 }, (_, i) => ({ date: new Date(Date.UTC(2026, 9, 25) + i * 86_400_000).toISOString().slice(0, 10), images: 3300, bytes: 3300 * 4_000_000 })),
            uploaded_per_day: Array.from({ length: 30 }, (_, i) => {
              const images = i < 23 ? 0 : 14000 - (29 - i) * 500;
              return { date: new Date(Date.UTC(2026, 9, 25) + i * 86_400_000).toISOString().slice(0, 10), images, bytes: images * 4_000_000 };
            }),
            receipts: 99206, unique_images: 99100, duplicates: 106, backlog: { images: 1204, bytes: 4_812_000_000 }, uploaded: { images: 98000, bytes: 392_000_000_000 }, dead: 2, evicted: 0,
          }),
        },
        ...errorResponses('unauthorized', 'ledger_unavailable', 'internal'),
      },
    },
  },
  '/admin/status': {
    get: {
      operationId: 'getStatus',
      summary: 'Backlog, egress, cap, drain time, disk',
      tags: ['admin'],
      description: 'CLI: `image-spool status` (`--json`, `--watch`).',
      security: ADMIN,
      responses: {
        '200': {
          description: 'The snapshot.',
          content: json(ref('Status'), {
            service: 'up', at: '2026-11-23T10:20:30.123Z',
            backlog: { images: 1204, bytes: 4_812_000_000, queued: 1200, uploading: 4, oldest_queued_at: '2026-11-23T08:02:11.000Z', oldest_queued_age_seconds: 8299 },
            totals: { uploaded: 98000, dead: 2, evicted: 0, duplicates: 106 },
            egress_bytes_per_sec: 12_480_000,
            cap: { rate_bytes_per_sec: 12_500_000, rate: '100Mbit/s', configured_rate_bytes_per_sec: 12_500_000, source: 'schedule', limited_by: 'cap', schedule: '08:00,40Mbit 18:00,100Mbit', override: null },
            drain_eta_seconds: 385,
            disk: { spool_bytes: 4_820_000_000, spool_max_bytes: null, free_bytes: 180_000_000_000, total_bytes: 250_000_000_000 },
            ledger: { wal_bytes: 4_128_952, wal_max_bytes: 67_108_864, wal_pinned: false, locked_by: [], readers: [] },
          }),
        },
        ...errorResponses('unauthorized', 'ledger_unavailable', 'internal'),
      },
    },
  },
  '/admin/links': {
    post: {
      operationId: 'createLink',
      summary: 'Create an upload link',
      tags: ['admin', 'links'],
      description: 'The answer holds the link\'s secret URL; the secret is shown only here (the ledger keeps its SHA-256).',
      security: ADMIN,
      requestBody: { required: true, content: json(ref('LinkRequest'), { expires_in: '48h', max_uploads: 20, device_id: 'kiosk-1' }) },
      responses: {
        '201': {
          description: 'Created.',
          content: json(ref('LinkCreated'), { url: 'http://gateway:4000/u/4mVn0aQe3w1Jm8yYtq0cKZr0vQdP6cX2gJpL7hN5sFk', token_id: '3f9c01a2b7de', expires_at: '2026-11-25T10:00:00.000Z', max_uploads: 20, device_id: 'kiosk-1' }),
        },
        ...errorResponses('invalid_request', 'invalid_device_id', 'unauthorized', 'ledger_unavailable', 'internal'),
      },
    },
    get: {
      operationId: 'listLinks',
      summary: 'List upload links',
      tags: ['admin', 'links'],
      description: 'Every link, with its state; never a secret or its hash.',
      security: ADMIN,
      responses: {
        '200': { description: 'The links.', content: json(ref('LinkList'), { links: [EXAMPLE_LINK] }) },
        ...errorResponses('unauthorized', 'ledger_unavailable', 'internal'),
      },
    },
  },
  '/admin/links/{token_id}': {
    delete: {
      operationId: 'revokeLink',
      summary: 'Revoke an upload link',
      tags: ['admin', 'links'],
      description: 'At once: nothing is stored through the link after this answer, not even by a request in progress. Revoking again gives the same answer.',
      security: ADMIN,
      parameters: [{ name: 'token_id', in: 'path', required: true, description: 'The link\'s public name.', schema: ref('LinkTokenId') }],
      responses: {
        '200': { description: 'The revoked link.', content: json(ref('Link'), { ...EXAMPLE_LINK, revoked: true, revoked_at: '2026-11-23T12:00:00.000Z', state: 'revoked' }) },
        ...errorResponses('not_found', 'unauthorized', 'ledger_unavailable', 'internal'),
      },
    },
  },
  '/admin/images/{id}/read-link': {
    post: {
      operationId: 'createReadLink',
      summary: 'A signed, expiring read link to one image',
      tags: ['admin', 'images'],
      description: 'For handing one image to a tool without the admin token: `url` reads the bytes, `status_url` the record with metadata, both until `expires_at` (HMAC-SHA256 over the id and the expiry with the gateway\'s key, compared in constant time). Nothing is stored per link, so links cannot be revoked one by one: deleting `$SPOOL_DIR/read-link.key` and restarting voids them all. CLI: `image-spool read-link ID [--expires-in 1h]`.',
      security: ADMIN,
      parameters: [param('ImageId')],
      requestBody: { required: false, content: json(ref('ReadLinkRequest'), { expires_in: '24h' }) },
      responses: {
        '201': {
          description: 'The link.',
          content: json(ref('ReadLink'), {
            image_id: EXAMPLE_ID,
            url: `http://gateway:4000/images/${EXAMPLE_ID}?expires=1795432831&sig=Yk3q9Hc1mZ0vRr2pX8eT4wLq7sNa6dFbG5hJkU1oPiE`,
            status_url: `http://gateway:4000/images/${EXAMPLE_ID}/status?expires=1795432831&sig=Yk3q9Hc1mZ0vRr2pX8eT4wLq7sNa6dFbG5hJkU1oPiE`,
            expires_at: '2026-11-24T10:20:31.000Z',
          }),
        },
        ...errorResponses('invalid_request', 'not_found', 'unauthorized', 'internal'),
      },
    },
  },
  '/u/{secret}': {
    post: {
      operationId: 'uploadThroughLink',
      summary: 'Upload images through an upload link',
      tags: ['links'],
      description: 'The secret in the path is the credential (no header). Multipart like `POST /image`, with one or more `image` parts (up to 100, each up to `MAX_IMAGE_BYTES`). All or nothing: a refused request stores no image and uses none of the link. Each image is durable before the answer. A resend (same device, same bytes) gets its first receipt and does not count against `max_uploads`, but still needs room for its parts. `Idempotency-Key` is refused (`400 invalid_idempotency_key`). Log lines show the path as `/u/[redacted]`.',
      security: PUBLIC,
      parameters: [
        {
          name: 'secret', in: 'path', required: true,
          description: 'The link secret from `POST /admin/links` (32 random bytes, base64url). Unknown: `404`; expired, used up or revoked: `410`.',
          schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{43}$' },
        },
        param('RequestId'),
      ],
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['image'],
              properties: {
                device_id: { ...ref('DeviceId'), description: 'Required unless the link fixes the device; then it may be left out, and another value is `400 invalid_request`.' },
                image: { type: 'array', minItems: 1, maxItems: 100, items: IMAGE_PART, description: 'One or more `image` parts.' },
              },
            },
          },
        },
      },
      responses: {
        ...receiptResponses(
          'Every image is durable: an array of receipts in part order, each as `POST /image` gives it.',
          'Every image was a resend: the first receipts, each with `"duplicate": true`.',
          { type: 'array', minItems: 1, maxItems: 100, items: ref('Receipt') },
          [EXAMPLE_RECEIPT, { ...EXAMPLE_RECEIPT, id: '01M84CWPD0SMD5ZBY79VQQHV2W', sha256: 'a7'.repeat(32), bytes: 281113 }],
          [{ ...EXAMPLE_RECEIPT, duplicate: true }],
        ),
        ...errorResponses(...UPLOAD_ERRORS, 'not_found', 'link_expired', 'link_used_up', 'link_revoked', 'link_quota_exceeded'),
      },
    },
  },
  '/metrics': {
    get: {
      operationId: 'getMetrics',
      summary: 'Prometheus metrics',
      tags: ['operations'],
      description: 'Prometheus text exposition (0.0.4): ingest requests by status and error code, bytes received, ingest and ledger commit latency, backlog, oldest queued age, drain ETA, egress bytes and cap, upload attempts by outcome, images by state, spool free bytes, and Node process metrics. Numbers only: every label has a fixed set of values (route, status, error code, state, outcome, mode), never an image or device id. Public unless `METRICS_AUTH=admin`, which requires the admin token. Every metric: docs/METRICS.md.',
      security: [{}, { adminBearer: [] }],
      responses: {
        '200': {
          description: 'The metrics.',
          content: { 'text/plain; version=0.0.4': { schema: { type: 'string' }, example: '# HELP image_spool_backlog_images Images waiting to be uploaded (queued or uploading).\n# TYPE image_spool_backlog_images gauge\nimage_spool_backlog_images 1240\n' } },
        },
        ...errorResponses('unauthorized', 'internal'),
      },
    },
  },
  '/openapi.json': {
    get: {
      operationId: 'getOpenApi',
      summary: 'This document',
      tags: ['operations'],
      description: 'Public. Its example ids, hashes and links are made up.',
      security: PUBLIC,
      responses: { '200': { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: { type: 'object', required: ['openapi', 'info', 'paths'] } } } } },
    },
  },
};

export const OPENAPI_DOCUMENT: OpenApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'image-spool',
    version: '0.1.0',
    summary: 'On-premise gateway: durable photo spool on local disk, forwarded to S3 under a hard uplink budget.',
    description: 'Devices POST photos; each is durable on local disk and in a SQLite ledger before the answer, then forwarded to S3 through one shared bandwidth budget. Every error is JSON `{"error": {"code", "message"}}` with a stable `code` (see the `Error` schema). Any request may also be answered before routing with `400 invalid_request` (malformed HTTP), `408 request_timeout` (headers too slow) or `431 request_headers_too_large`, and an unknown route with `404 not_found`. Every answer carries `X-Request-Id`. Examples: docs/API.md.',
    license: { name: 'MIT', identifier: 'MIT' },
  },
  servers: [{ url: '/', description: 'The gateway this document was fetched from (default port 4000).' }],
  tags: [
    { name: 'devices', description: 'What cameras call.' },
    { name: 'images', description: 'The ledger and the image bytes: the bytes and the metadata need a credential, the id alone shows the outcome.' },
    { name: 'links', description: 'Expirable upload links.' },
    { name: 'admin', description: 'Operator endpoints: `Authorization: Bearer <admin token>`.' },
    { name: 'operations', description: 'Probes and this document.' },
  ],
  security: [],
  paths: { ...paths, ...STATUS_PATHS },
  components: { schemas: { ...schemas, ...STATUS_SCHEMAS }, securitySchemes, parameters, headers },
};

/** GET /openapi.json (public). */
export function openApiHandler() {
  const body = JSON.stringify(OPENAPI_DOCUMENT);
  return function openApi(c: Context<AppEnv>): Response {
    return c.body(body, 200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
  };
}
