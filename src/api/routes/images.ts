import { createRoute, z } from '@hono/zod-openapi';
import { DEVICE_ID_PATTERN, FORM_LIMITS, IDEMPOTENCY_KEY_PATTERN, JSON_ENVELOPE_BYTES, MAX_FIELD_IMAGE_BYTES } from '../../http/limits.js';
import { JSON_OTHER_BYTES_LIMIT } from '../../http/json-image-decoder.js';
import { IMAGE_FORMAT_NAMES } from '../../meta/sniff.js';
import { json } from '../content.js';
import { errorResponses, UPLOAD_ERRORS } from '../error-responses.js';
import { EXAMPLE_ID, EXAMPLE_RECEIPT, EXAMPLE_SHA } from '../examples.js';
import { DeviceId, ImageId } from '../schemas/common.js';
import { Backlog, ImageOutcome, ImageStatus, Receipt } from '../schemas/images.js';
import { PUBLIC } from '../security.js';

/** Who reads an image: the admin (Bearer or Basic), a signed read link, or (DEVICE_AUTH=token) the receipt's own device. */
const IMAGE_CREDENTIALS: Array<Record<string, string[]>> = [{ adminBearer: [] }, { adminBasic: [] }, { readLink: [] }, { deviceBearer: [] }];
const IMAGE_READ_AUTH = 'Credentials (`IMAGE_READ=credential`, the default): the admin token (`Authorization: Bearer`, or HTTP Basic with the token as the password), a signed read link (`?expires=…&sig=…` from `POST /admin/images/{id}/read-link`: `403 read_link_invalid` when altered or for another id, `410 read_link_expired` after its time), or with `DEVICE_AUTH=token` the token of the device whose receipt this is (another device\'s receipt: `404`, as an unknown id, so a token does not reveal which ids exist). A credential that proves nothing is `401`. `IMAGE_READ=open` with `DEVICE_AUTH=off` needs none, as before the setting existed.';

export const ImageIdParam = z.object({
  id: ImageId.openapi({ param: { name: 'id', in: 'path', description: 'The image id from its receipt.' }, example: EXAMPLE_ID }),
});

/** `expires` and `sig` of a signed read link: strings, each given once; what they prove is checked by the signature. */
const ReadLinkQuery = z.object({
  expires: z.string({ error: 'must be given once' }).optional().openapi({ param: { description: 'A signed read link\'s expiry (unix seconds, `^\\d{1,12}$`); goes with `sig`.' } }),
  sig: z.string({ error: 'must be given once' }).optional().openapi({ param: { description: 'A signed read link\'s signature (43 base64url characters); goes with `expires`. A malformed one is `403 read_link_invalid`.' } }),
});

const REQUEST_ID_HEADER = { 'X-Request-Id': { description: 'The request id (the one sent, or a generated UUID); it is in every log line about the request.', schema: { type: 'string' as const } } };

export const IMAGE_PART_DESCRIPTION = `The image, as a file part (streamed to disk, up to \`MAX_IMAGE_BYTES\`) or a plain field value up to ${MAX_FIELD_IMAGE_BYTES} bytes. One of \`IMAGE_FORMATS\` (by default ${IMAGE_FORMAT_NAMES.join(', ')}), recognised by its magic bytes; \`IMAGE_FORMATS=any\` takes any bytes.`;
const ImagePart = z.string().openapi({ format: 'binary', description: IMAGE_PART_DESCRIPTION });

/** The 200/202 answers of an upload, with the receipt schema (one, or an array through a link). */
export function receiptResponses<S extends z.ZodType>(accepted: string, duplicate: string, schema: S, example: unknown, duplicateExample: unknown) {
  return {
    200: { description: duplicate, headers: REQUEST_ID_HEADER, content: json(schema, duplicateExample) },
    202: { description: accepted, headers: REQUEST_ID_HEADER, content: json(schema, example) },
  };
}

export const RequestIdHeader = z.string().optional().openapi({ param: { name: 'X-Request-Id', in: 'header', description: 'Echoed in the `X-Request-Id` answer header and the log; one is generated when absent.' } });

/** POST /image: multipart or streamed JSON, read by the ingest handler itself; described here from its limits. */
export const postImageRoute = createRoute({
  method: 'post',
  path: '/image',
  operationId: 'postImage',
  summary: 'Upload one image',
  tags: ['devices'],
  description: 'Answers `202` only after the file is fsynced under its final name, its directory is fsynced and the ledger row has committed: an ack survives a power cut. A resend (same `device_id` and same bytes, or the same `Idempotency-Key`) gets the first receipt with `200` and `"duplicate": true`; no second file, no second object. If the gateway lost the first copy (spool file deleted or corrupt, or evicted), the resend stores the bytes again: `202`, the first receipt, `queued`. Bytes another device already sent (same SHA-256, still held) get a new receipt with `202`, `"duplicate": true` and `"duplicate_of"`; no second file, no second object. A refused upload leaves no file and no row.\n\n'
    + `Two body shapes give the same answers: \`multipart/form-data\` (what cameras send; streamed to disk; at most ${FORM_LIMITS.fields} plain fields and ${FORM_LIMITS.parts} parts) and \`application/json\` with the image in base64 (decoded to disk as it streams). Anything else is \`415 unsupported_media_type\`.\n\n`
    + 'Credentials: none with `DEVICE_AUTH=off` (the default); a device token (`deviceBearer`) with `DEVICE_AUTH=token`.',
  security: [{}, { deviceBearer: [] }],
  request: {
    headers: z.object({
      'Idempotency-Key': z.string().regex(IDEMPOTENCY_KEY_PATTERN).optional().openapi({ param: { description: 'A resend with the same key and bytes gets the first receipt; the same key with other bytes is `409 idempotency_key_reused`. Keys are per device.' } }),
      'X-Request-Id': RequestIdHeader,
    }),
    body: {
      required: true,
      content: {
        'multipart/form-data': {
          schema: z.object({
            device_id: DeviceId.optional().openapi({ description: 'Which device sent it. Required unless a device token names the device; given once (twice with different values is `400 invalid_request`).' }),
            image: ImagePart,
          }),
        },
        'application/json': {
          schema: z.object({
            device_id: DeviceId.optional().openapi({ description: 'As in the multipart form: required unless a device token names the device. Not a string: `400 invalid_device_id`.' }),
            image: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/).openapi({
              format: 'byte',
              description: 'The image bytes in standard base64 with padding (length a multiple of 4; not base64url, no line breaks: else `400 invalid_request`). Absent or not a string: `400 missing_image`. Decoded, the same checks as a multipart `image` part (`413` over `MAX_IMAGE_BYTES`, `415 not_an_image`).',
            }),
          }).openapi({
            description: `The same upload as JSON, for clients that cannot send multipart. The base64 is decoded into the spool as it streams (members other than \`image\` may hold at most ${JSON_OTHER_BYTES_LIMIT} bytes together). A body longer than the base64 of \`MAX_IMAGE_BYTES\` (\`ceil(MAX_IMAGE_BYTES / 3) * 4 + ${JSON_ENVELOPE_BYTES}\` bytes) is refused with \`413\` before decoding: by \`Content-Length\` before a byte is read, or while it streams. Other fields are ignored. \`device_id\` matches \`${DEVICE_ID_PATTERN.source}\`.`,
          }),
          example: { device_id: 'device_1', image: '/9j/4AAQSkZJRgABAQAAAQABAAA=' },
        },
      },
    },
  },
  responses: {
    ...receiptResponses(
      'Durable: the file is fsynced and renamed, its directory fsynced, its ledger row committed. Or a duplicate of bytes already held: its own ledger row committed, `duplicate_of` set. Or a resend of bytes the gateway had lost: stored again, the first receipt, `queued`.',
      'A resend: the first receipt, with `"duplicate": true` and the image\'s current `status`.',
      Receipt, EXAMPLE_RECEIPT, { ...EXAMPLE_RECEIPT, status: 'uploaded', duplicate: true },
    ),
    ...errorResponses(...UPLOAD_ERRORS, 'idempotency_key_reused', 'unauthorized', 'device_mismatch'),
  },
});

export const getBacklogRoute = createRoute({
  method: 'get',
  path: '/images',
  operationId: 'getBacklog',
  summary: 'Backlog summary',
  tags: ['images'],
  description: 'Counts by state, bytes waiting, the oldest waiting image, the budget in force and how long the backlog takes to drain at it. Public (no credential): counts, bytes and times only, no image or device id.',
  security: PUBLIC,
  responses: {
    200: { description: 'The backlog.', content: json(Backlog, { queued: 1200, uploading: 4, uploaded: 98000, dead: 2, evicted: 0, duplicate: 106, backlog_bytes: 4_812_000_000, oldest_queued_at: '2026-11-23T08:01:12.345Z', rate_bytes_per_sec: 12_500_000, drain_eta_seconds: 385 }) },
    ...errorResponses('ledger_unavailable', 'internal'),
  },
});

export const getImageStatusRoute = createRoute({
  method: 'get',
  path: '/images/{id}/status',
  operationId: 'getImageStatus',
  summary: 'One image\'s ledger record and metadata (with a credential), or its upload\'s outcome (the id alone)',
  tags: ['images'],
  description: 'With a credential: the whole record (`ImageStatus`). Without one, the id alone (as a device that uploaded the image holds it) gives the outcome (`ImageOutcome`): state, attempts, `s3_key`, times, and nothing from the image\'s metadata. With `DEVICE_AUTH=token` there is no answer without a credential (`401`).\n\n' + IMAGE_READ_AUTH,
  security: [{}, ...IMAGE_CREDENTIALS],
  request: { params: ImageIdParam, query: ReadLinkQuery },
  responses: {
    200: {
      description: 'The record (with a credential; `metadata` is null until extracted, right after the ack, and when extraction failed: see `metadata_state`), or the outcome (the id alone).',
      content: json(z.union([ImageStatus, ImageOutcome]), {
        id: EXAMPLE_ID, device_id: 'device_1', state: 'uploaded', duplicate_of: null, sha256: EXAMPLE_SHA, bytes: 300004, content_type: 'image/jpeg',
        s3_key: `device_1/2026/11/23/${EXAMPLE_ID}.jpg`, attempts: 1, last_error: null, received_at: '2026-11-23T10:20:31.120Z',
        next_attempt_at: null, uploaded_at: '2026-11-23T10:20:33.870Z', metadata_state: 'done', metadata_error: null,
        metadata: { format: 'jpeg', width: 4032, height: 3024, camera_make: 'Acme', camera_model: 'TrailCam 4', gps: { latitude: 47.3769, longitude: 8.5417 }, captured_at: '2026-11-23T11:20:30', captured_at_utc: '2026-11-23T10:20:30.000Z', orientation: 1 },
      }),
    },
    ...errorResponses('invalid_request', 'not_found', 'unauthorized', 'read_link_invalid', 'read_link_expired', 'internal'),
  },
});

const ETAG = { description: 'The image\'s SHA-256 in quotes.', schema: { type: 'string' as const, pattern: '^"[0-9a-f]{64}"$' } };

export const getImageRoute = createRoute({
  method: 'get',
  path: '/images/{id}',
  operationId: 'getImage',
  summary: 'The image bytes',
  tags: ['images'],
  description: 'From the spool while the file is there, else streamed from S3 (never buffered); a duplicate serves its original\'s bytes. `ETag` is the SHA-256: `If-None-Match` gives `304`. One `Range` gives `206` (`416` when unsatisfiable; several ranges: the whole image). `HEAD` gives the headers alone.\n\n' + IMAGE_READ_AUTH,
  security: IMAGE_CREDENTIALS,
  request: {
    params: ImageIdParam,
    query: ReadLinkQuery,
    headers: z.object({
      'If-None-Match': z.string().optional().openapi({ param: { description: 'An ETag (or `*`): `304` when it matches.' } }),
      Range: z.string().optional().openapi({ param: { description: 'One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`.' }, example: 'bytes=0-1023' }),
    }),
  },
  responses: {
    200: {
      description: 'The whole image.',
      headers: {
        ETag: ETAG,
        'Content-Length': { description: 'The image size.', schema: { type: 'integer' } },
        'Accept-Ranges': { description: '`bytes`.', schema: { type: 'string', const: 'bytes' } },
        'Cache-Control': { description: '`private, max-age=31536000, immutable`: an id\'s bytes never change.', schema: { type: 'string' } },
      },
      content: { 'image/*': { schema: z.string().openapi({ format: 'binary', description: '`Content-Type` is the image\'s (`image/jpeg`, ...).' }) } },
    },
    206: {
      description: 'The requested range.',
      headers: {
        ETag: ETAG,
        'Content-Range': { description: '`bytes a-b/size`.', schema: { type: 'string', pattern: '^bytes \\d+-\\d+/\\d+$' } },
        'Content-Length': { description: 'The range\'s length.', schema: { type: 'integer' } },
      },
      content: { 'image/*': { schema: z.string().openapi({ format: 'binary' }) } },
    },
    304: { description: '`If-None-Match` matched: no body.', headers: { ETag: ETAG } },
    ...errorResponses('invalid_request', 'not_found', 'image_gone', 'range_not_satisfiable', 'unauthorized', 'read_link_invalid', 'read_link_expired', 'internal'),
  },
});
