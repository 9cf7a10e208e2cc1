/** `security: []`: public. Each operation names its own, as OpenAPI reads them: any one entry suffices, `{}` is "no credential". */
export const PUBLIC: Array<Record<string, string[]>> = [];
export const ADMIN: Array<Record<string, string[]>> = [{ adminBearer: [] }];

/** The schemes the operations name, as components.securitySchemes. */
export const SECURITY_SCHEMES = {
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
} as const;
