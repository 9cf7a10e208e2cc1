import type { ErrorCode } from '../errors.js';
import { DEVICE_ID_PATTERN, FORM_LIMITS, IDEMPOTENCY_KEY_PATTERN, LINK_MAX_IMAGES_PER_REQUEST, MAX_FIELD_IMAGE_BYTES } from '../http/limits.js';
import { IMAGE_FORMAT_NAMES } from '../meta/sniff.js';

/*
 * What each error code of src/errors.ts means, for the `Error` schema and the error answers of every
 * operation in /openapi.json. Hand-written on purpose (it is prose), but keyed by the code table itself, so a
 * code added to ERROR_STATUS without a line here does not compile, and the limits it quotes are the constants
 * the code enforces.
 */

export interface ErrorDoc {
  /** When the service answers with it. */
  when: string;
  /** A message as the service writes it. */
  message: string;
}

const NOT_HTTP = 'Not sent by the HTTP API (startup, uploader or CLI); listed so the code space is complete.';

export const ERROR_DOCS: { readonly [K in ErrorCode]: ErrorDoc } = {
  invalid_request: {
    when: 'Malformed multipart, JSON or HTTP, a body that ends early or a connection closed mid-upload, `device_id` given twice with different values, a JSON `image` that is not standard base64, an admin request body of the wrong shape, or a `device_id` other than the one an upload link fixes.',
    message: 'malformed multipart body: Unexpected end of form',
  },
  invalid_rate: { when: 'The rate in `PUT /admin/bwlimit` does not parse (one rate with a unit, or `off`; a timetable is refused too); the message names it.', message: 'invalid rate "20 furlongs": unknown unit "furlongs" (bits: kbit, Mbit, Gbit; bytes: B, KB, MB, GB, KiB, MiB, GiB)' },
  missing_device_id: { when: 'The form has no `device_id` (and no device token or link names the device).', message: 'the form has no "device_id" field' },
  invalid_device_id: { when: `\`device_id\` does not match \`${DEVICE_ID_PATTERN.source}\`.`, message: `device_id must match ${DEVICE_ID_PATTERN.source}, got "../etc"` },
  missing_image: { when: 'No `image` part (or JSON `image` string), or an empty one.', message: 'the form has no "image" part' },
  too_many_images: { when: `More than one \`image\` part on \`POST /image\`, more than ${LINK_MAX_IMAGES_PER_REQUEST} on an upload link.`, message: 'send exactly one image part per request' },
  too_many_fields: { when: `The form carries more than ${FORM_LIMITS.fields} plain fields (or more than ${FORM_LIMITS.parts} parts on \`POST /image\`): refused as the limit is passed, whatever comes after.`, message: `the form has more than ${FORM_LIMITS.fields} plain fields; send device_id and the image, and few other fields` },
  invalid_idempotency_key: { when: `\`Idempotency-Key\` does not match \`${IDEMPOTENCY_KEY_PATTERN.source}\` (1-200 visible ASCII characters); on upload links, any \`Idempotency-Key\`.`, message: 'Idempotency-Key must be 1-200 visible ASCII characters' },
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
  image_too_large: { when: `Over \`MAX_IMAGE_BYTES\`: by \`Content-Length\` before reading, or while streaming; a plain-field image over ${MAX_FIELD_IMAGE_BYTES} bytes; a JSON body longer than the base64 of \`MAX_IMAGE_BYTES\`. The connection closes.`, message: 'image exceeds MAX_IMAGE_BYTES (50000000 bytes)' },
  unsupported_media_type: { when: 'The request body is not `multipart/form-data` (or, on `POST /image`, `application/json`).', message: 'expected Content-Type multipart/form-data or application/json, got "text/plain"' },
  not_an_image: { when: `The magic bytes are no format \`IMAGE_FORMATS\` accepts (by default ${IMAGE_FORMAT_NAMES.join(', ')}; \`any\` accepts any bytes).`, message: `the image is not a recognised image (checked by its first bytes); accepted: ${IMAGE_FORMAT_NAMES.join(', ')}` },
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

