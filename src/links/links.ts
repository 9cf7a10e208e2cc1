import { SpoolError, errnoCode } from '../errors.js';
import type { InsertResult, NewImage } from '../ledger/types.js';
import { linkState, type LinkLedger, type LinkRow } from './ledger.js';
import type { LinkView } from '../api/schemas/links.js';
import { SECRET_PATTERN, TOKEN_ID_PATTERN, hashesMatch, newSecret, newTokenId, secretHash } from './secret.js';

/** A validated `POST /admin/links` request, in the units the ledger keeps. */
export interface LinkRequest {
  expiresInSeconds: number;
  maxUploads: number | null;
  deviceId: string | null;
}

/**
 * Expirable upload links. The secret exists only in the answer to its creation; the ledger keeps
 * sha256(secret). Uploads in flight are counted here (in memory, per link) so concurrent requests through
 * one link can never store more than `max_uploads` images between them.
 */
export class UploadLinks {
  /** Image parts being received right now through each link (token_id -> count), not yet in uploads_used. */
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly ledger: LinkLedger, private readonly now: () => number = Date.now) {}

  create(request: LinkRequest): { secret: string; link: LinkView } {
    const createdMs = this.now();
    const secret = newSecret();
    const base = {
      secret_sha256: secretHash(secret),
      device_id: request.deviceId,
      max_uploads: request.maxUploads,
      expires_at: new Date(createdMs + request.expiresInSeconds * 1000).toISOString(),
      created_at: new Date(createdMs).toISOString(),
    };
    // 48-bit ids collide about never; if one does, the primary key says so and another is drawn.
    for (let attempt = 1; ; attempt++) {
      const tokenId = newTokenId();
      try {
        this.ledger.insert({ token_id: tokenId, ...base });
        return { secret, link: this.view({ ...base, token_id: tokenId, uploads_used: 0, revoked_at: null }) };
      } catch (err) {
        if (attempt >= 5 || errnoCode(err) !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw err;
      }
    }
  }

  list(): LinkView[] {
    return this.ledger.list().map((row) => this.view(row));
  }

  revoke(tokenId: string): LinkView {
    const row = TOKEN_ID_PATTERN.test(tokenId) ? this.ledger.revoke(tokenId, new Date(this.now())) : undefined;
    if (!row) throw new SpoolError('not_found', `no upload link with token_id ${JSON.stringify(tokenId.slice(0, 40))}`);
    return this.view(row);
  }

  /**
   * The link a presented secret opens, if it may be used now. Unknown: 404 (the same answer as any path
   * that does not exist). Revoked, expired, used up: 410. Expiry is checked here, when the request arrives:
   * a request that started before `expires_at` is completed.
   */
  open(secret: string): LinkUse {
    const presented = SECRET_PATTERN.test(secret) ? secretHash(secret) : null;
    // The index finds the row by hash; the final word is a constant-time comparison of the hash bytes.
    const row = presented === null ? undefined : this.ledger.byHash(presented);
    if (!row || presented === null || !hashesMatch(row.secret_sha256, presented)) {
      throw new SpoolError('not_found', 'no such upload link');
    }
    const state = linkState(row, this.now());
    if (state === 'revoked') throw new SpoolError('link_revoked', 'this upload link was revoked');
    if (state === 'expired') throw new SpoolError('link_expired', `this upload link expired at ${row.expires_at}`);
    if (state === 'used_up') throw new SpoolError('link_used_up', `this upload link has been used for all of its ${String(row.max_uploads)} uploads`);
    return new LinkUse(row.token_id, row.device_id, this.ledger, this.inFlight);
  }

  private view(row: LinkRow): LinkView {
    return {
      token_id: row.token_id,
      device_id: row.device_id,
      max_uploads: row.max_uploads,
      uploads_used: row.uploads_used,
      expires_at: row.expires_at,
      created_at: row.created_at,
      revoked: row.revoked_at !== null,
      revoked_at: row.revoked_at,
      state: linkState(row, this.now()),
    };
  }
}

/** One request through a link: reserves an upload per image part as it arrives, commits, releases. */
export class LinkUse {
  private held = 0;

  constructor(
    readonly tokenId: string,
    /** Set when the link fixes the device; the form's device_id is then optional and must agree. */
    readonly deviceId: string | null,
    private readonly ledger: LinkLedger,
    private readonly inFlight: Map<string, number>,
  ) {}

  /**
   * One more image part in this request. Refused with 409 `link_quota_exceeded` when the link's remaining
   * uploads (minus those other requests are receiving right now) cannot take it, and with 410 when the link
   * was revoked meanwhile: before the part's first byte is written.
   */
  reserve(): void {
    const row = this.ledger.byId(this.tokenId);
    if (!row || row.revoked_at !== null) throw new SpoolError('link_revoked', 'this upload link was revoked; nothing was stored');
    const pending = this.inFlight.get(this.tokenId) ?? 0;
    if (row.max_uploads !== null && row.uploads_used + pending + 1 > row.max_uploads) {
      const left = Math.max(0, row.max_uploads - row.uploads_used - (pending - this.held));
      throw new SpoolError('link_quota_exceeded',
        `this upload link can take ${left} image${left === 1 ? '' : 's'} in this request (max_uploads ${row.max_uploads}, ${row.uploads_used} used` +
        `${pending > this.held ? `, ${pending - this.held} being received in other requests` : ''}); this request carries more image parts; nothing was stored`);
    }
    this.inFlight.set(this.tokenId, pending + 1);
    this.held++;
  }

  /** Stores the rows (see LinkLedger.commitUploads); the caller releases the reservation afterwards. */
  commit(rows: readonly NewImage[]): InsertResult[] {
    return this.ledger.commitUploads(this.tokenId, rows);
  }

  /** Returns this request's reservations. Safe to call more than once. */
  release(): void {
    if (this.held === 0) return;
    const left = (this.inFlight.get(this.tokenId) ?? 0) - this.held;
    if (left > 0) this.inFlight.set(this.tokenId, left);
    else this.inFlight.delete(this.tokenId);
    this.held = 0;
  }
}
