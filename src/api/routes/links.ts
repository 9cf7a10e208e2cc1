import { createRoute, z } from '@hono/zod-openapi';
import { LINK_MAX_IMAGES_PER_REQUEST } from '../../http/limits.js';
import { SECRET_PATTERN } from '../../links/secret.js';
import { json } from '../content.js';
import { errorResponses, UPLOAD_ERRORS } from '../error-responses.js';
import { EXAMPLE_ID, EXAMPLE_LINK, EXAMPLE_RECEIPT } from '../examples.js';
import { DeviceId } from '../schemas/common.js';
import { Receipt } from '../schemas/images.js';
import { Link, LinkCreated, LinkList, LinkRequest, LinkTokenId, ReadLink, ReadLinkRequest } from '../schemas/links.js';
import { ADMIN, PUBLIC } from '../security.js';
import { IMAGE_PART_DESCRIPTION, ImageIdParam, receiptResponses, RequestIdHeader } from './images.js';

/* Upload links (admin side mounted at /admin/links, uploads at /u) and read links (mounted at /admin/images). */

export const createLinkRoute = createRoute({
  method: 'post', path: '/', operationId: 'createLink', summary: 'Create an upload link', tags: ['admin', 'links'], security: ADMIN,
  description: 'The answer holds the link\'s secret URL; the secret is shown only here (the ledger keeps its SHA-256).',
  request: { body: { required: true, content: json(LinkRequest, { expires_in: '48h', max_uploads: 20, device_id: 'kiosk-1' }) } },
  responses: {
    201: { description: 'Created.', content: json(LinkCreated, { url: 'http://gateway:4000/u/4mVn0aQe3w1Jm8yYtq0cKZr0vQdP6cX2gJpL7hN5sFk', token_id: '3f9c01a2b7de', expires_at: '2026-11-25T10:00:00.000Z', max_uploads: 20, device_id: 'kiosk-1' }) },
    ...errorResponses('invalid_request', 'invalid_device_id', 'unauthorized', 'ledger_unavailable', 'ledger_busy', 'internal'),
  },
});

export const listLinksRoute = createRoute({
  method: 'get', path: '/', operationId: 'listLinks', summary: 'List upload links', tags: ['admin', 'links'], security: ADMIN,
  description: 'Every link, with its state; never a secret or its hash.',
  responses: {
    200: { description: 'The links.', content: json(LinkList, { links: [EXAMPLE_LINK] }) },
    ...errorResponses('unauthorized', 'ledger_unavailable', 'internal'),
  },
});

export const revokeLinkRoute = createRoute({
  method: 'delete', path: '/{token_id}', operationId: 'revokeLink', summary: 'Revoke an upload link', tags: ['admin', 'links'], security: ADMIN,
  description: 'At once: nothing is stored through the link after this answer, not even by a request in progress. Revoking again gives the same answer.',
  request: { params: z.object({ token_id: LinkTokenId.openapi({ param: { name: 'token_id', in: 'path', description: 'The link\'s public name.' } }) }) },
  responses: {
    200: { description: 'The revoked link.', content: json(Link, { ...EXAMPLE_LINK, revoked: true, revoked_at: '2026-11-23T12:00:00.000Z', state: 'revoked' }) },
    ...errorResponses('not_found', 'unauthorized', 'ledger_unavailable', 'ledger_busy', 'internal'),
  },
});

export const createReadLinkRoute = createRoute({
  method: 'post', path: '/{id}/read-link', operationId: 'createReadLink', summary: 'A signed, expiring read link to one image', tags: ['admin', 'images'], security: ADMIN,
  description: 'For handing one image to a tool without the admin token: `url` reads the bytes, `status_url` the record with metadata, both until `expires_at` (HMAC-SHA256 over the id and the expiry with the gateway\'s key, compared in constant time). Nothing is stored per link, so links cannot be revoked one by one: deleting `$SPOOL_DIR/read-link.key` and restarting voids them all. CLI: `image-spool read-link ID [--expires-in 1h]`.',
  request: { params: ImageIdParam, body: { required: false, content: json(ReadLinkRequest, { expires_in: '24h' }) } },
  responses: {
    201: {
      description: 'The link.',
      content: json(ReadLink, {
        image_id: EXAMPLE_ID,
        url: `http://gateway:4000/images/${EXAMPLE_ID}?expires=1795432831&sig=Yk3q9Hc1mZ0vRr2pX8eT4wLq7sNa6dFbG5hJkU1oPiE`,
        status_url: `http://gateway:4000/images/${EXAMPLE_ID}/status?expires=1795432831&sig=Yk3q9Hc1mZ0vRr2pX8eT4wLq7sNa6dFbG5hJkU1oPiE`,
        expires_at: '2026-11-24T10:20:31.000Z',
      }),
    },
    ...errorResponses('invalid_request', 'not_found', 'unauthorized', 'internal'),
  },
});

/** POST /u/{secret}: multipart, read by the link handler itself; described here from its limits. */
export const linkUploadRoute = createRoute({
  method: 'post', path: '/{secret}', operationId: 'uploadThroughLink', summary: 'Upload images through an upload link', tags: ['links'], security: PUBLIC,
  description: `The secret in the path is the credential (no header). Multipart like \`POST /image\`, with one or more \`image\` parts (up to ${LINK_MAX_IMAGES_PER_REQUEST}, each up to \`MAX_IMAGE_BYTES\`). All or nothing: a refused request stores no image and uses none of the link. Each image is durable before the answer. A resend (same device, same bytes) gets its first receipt and does not count against \`max_uploads\`, but still needs room for its parts. \`Idempotency-Key\` is refused (\`400 invalid_idempotency_key\`). Log lines show the path as \`/u/[redacted]\`.`,
  request: {
    params: z.object({
      secret: z.string().regex(SECRET_PATTERN).openapi({ param: { name: 'secret', in: 'path', description: 'The link secret from `POST /admin/links` (32 random bytes, base64url). Unknown: `404`; expired, used up or revoked: `410`.' } }),
    }),
    headers: z.object({ 'X-Request-Id': RequestIdHeader }),
    body: {
      required: true,
      content: {
        'multipart/form-data': {
          schema: z.object({
            device_id: DeviceId.optional().openapi({ description: 'Required unless the link fixes the device; then it may be left out, and another value is `400 invalid_request`.' }),
            image: z.array(z.string().openapi({ format: 'binary', description: IMAGE_PART_DESCRIPTION })).min(1).max(LINK_MAX_IMAGES_PER_REQUEST).openapi({ description: 'One or more `image` parts.' }),
          }),
        },
      },
    },
  },
  responses: {
    ...receiptResponses(
      'Every image is durable: an array of receipts in part order, each as `POST /image` gives it.',
      'Every image was a resend: the first receipts, each with `"duplicate": true`.',
      z.array(Receipt).min(1).max(LINK_MAX_IMAGES_PER_REQUEST),
      [EXAMPLE_RECEIPT, { ...EXAMPLE_RECEIPT, id: '01M84CWPD0SMD5ZBY79VQQHV2W', sha256: 'a7'.repeat(32), bytes: 281113 }],
      [{ ...EXAMPLE_RECEIPT, duplicate: true }],
    ),
    ...errorResponses(...UPLOAD_ERRORS, 'not_found', 'link_expired', 'link_used_up', 'link_revoked', 'link_quota_exceeded'),
  },
});
