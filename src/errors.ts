/**
 * Every failure the service reports has a stable code. HTTP statuses live in one table so the ingest
 * path, the admin API and the CLI agree on what each code means.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_rate: 400,
  missing_device_id: 400,
  invalid_device_id: 400,
  missing_image: 400,
  too_many_images: 400,
  too_many_fields: 400,
  invalid_idempotency_key: 400,
  idempotency_key_reused: 409,
  link_quota_exceeded: 409,
  link_expired: 410,
  link_used_up: 410,
  link_revoked: 410,
  unauthorized: 401,
  device_mismatch: 403,
  read_link_invalid: 403,
  read_link_expired: 410,
  not_found: 404,
  image_gone: 410,
  range_not_satisfiable: 416,
  request_timeout: 408,
  request_headers_too_large: 431,
  image_too_large: 413,
  unsupported_media_type: 415,
  not_an_image: 415,
  disk_full: 507,
  spool_degraded: 503,
  too_busy: 503,
  shutting_down: 503,
  service_unreachable: 503,
  ledger_unavailable: 503,
  ledger_busy: 503,
  budget_unavailable: 503,
  internal: 500,
  // Not HTTP-facing: uploader and startup failures. They still map to a status for the status API.
  config_invalid: 500,
  schema_too_new: 500,
  spool_file_missing: 500,
  spool_file_corrupt: 500,
  upload_stalled: 504,
  upload_conflict: 409,
  invalid_state_transition: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class SpoolError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. Retry-After) the HTTP layer should send with this error. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; headers?: Record<string, string> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SpoolError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = options.headers ?? {};
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isSpoolError(err: unknown, code?: ErrorCode): err is SpoolError {
  return err instanceof SpoolError && (code === undefined || err.code === code);
}

/** Node system errors carry a string `code` (ENOSPC, EIO, ...). */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
