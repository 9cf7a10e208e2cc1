import { SpoolError } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Db } from '../ledger/open.js';
import type { InsertResult, NewImage } from '../ledger/types.js';

/** A row of `upload_links` (migration 0009). `secret_sha256` never leaves this module's callers' process. */
export interface LinkRow {
  token_id: string;
  secret_sha256: string;
  device_id: string | null;
  max_uploads: number | null;
  uploads_used: number;
  expires_at: string;
  revoked_at: string | null;
  created_at: string;
}

export type LinkState = 'active' | 'expired' | 'used_up' | 'revoked';

/** Revoked wins over expired, expired over used up: the answer names the operator's decision first. */
export function linkState(row: Pick<LinkRow, 'revoked_at' | 'expires_at' | 'max_uploads' | 'uploads_used'>, nowMs: number): LinkState {
  if (row.revoked_at !== null) return 'revoked';
  if (Date.parse(row.expires_at) <= nowMs) return 'expired';
  if (row.max_uploads !== null && row.uploads_used >= row.max_uploads) return 'used_up';
  return 'active';
}

/** All SQL for upload links. Image rows themselves are written by ImageLedger, inside this ledger's transaction. */
export class LinkLedger {
  private readonly stmts;

  constructor(private readonly db: Db, private readonly images: ImageLedger) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO upload_links (token_id, secret_sha256, device_id, max_uploads, uploads_used, expires_at, revoked_at, created_at)
        VALUES (@token_id, @secret_sha256, @device_id, @max_uploads, 0, @expires_at, NULL, @created_at)`),
      byHash: db.prepare('SELECT * FROM upload_links WHERE secret_sha256 = ?'),
      byId: db.prepare('SELECT * FROM upload_links WHERE token_id = ?'),
      list: db.prepare('SELECT * FROM upload_links ORDER BY created_at DESC, token_id'),
      revoke: db.prepare('UPDATE upload_links SET revoked_at = @now WHERE token_id = @token_id AND revoked_at IS NULL'),
      use: db.prepare('UPDATE upload_links SET uploads_used = uploads_used + @n WHERE token_id = @token_id'),
      recordImage: db.prepare('INSERT INTO upload_link_images (image_id, token_id) VALUES (?, ?)'),
    };
  }

  insert(row: Omit<LinkRow, 'uploads_used' | 'revoked_at'>): void {
    this.stmts.insert.run(row);
  }

  byHash(secretSha256: string): LinkRow | undefined {
    return this.stmts.byHash.get(secretSha256) as LinkRow | undefined;
  }

  byId(tokenId: string): LinkRow | undefined {
    return this.stmts.byId.get(tokenId) as LinkRow | undefined;
  }

  list(): LinkRow[] {
    return this.stmts.list.all() as LinkRow[];
  }

  /** Marks the link revoked (idempotent: a second revocation keeps the first time). Undefined when unknown. */
  revoke(tokenId: string, now: Date): LinkRow | undefined {
    this.stmts.revoke.run({ token_id: tokenId, now: now.toISOString() });
    return this.byId(tokenId);
  }

  /**
   * One transaction: the link is re-checked (revoked meanwhile: nothing is stored), the image rows are
   * inserted (a resend gets its earlier receipt, as on POST /image), and the stored ones are counted against
   * `max_uploads` and recorded as brought by this link. A count over the limit rolls everything back.
   */
  commitUploads(tokenId: string, rows: readonly NewImage[]): InsertResult[] {
    return this.db.transaction(() => {
      const link = this.byId(tokenId);
      if (!link || link.revoked_at !== null) throw new SpoolError('link_revoked', 'this upload link was revoked; nothing was stored');
      const results = this.images.insertMany(rows);
      // A duplicate is a new receipt too (its own id), so it counts as a use; a resend does not.
      const stored = rows.filter((_, i) => results[i]?.kind === 'inserted' || results[i]?.kind === 'duplicate_of');
      if (link.max_uploads !== null && link.uploads_used + stored.length > link.max_uploads) {
        throw new SpoolError('link_quota_exceeded',
          `this upload link has ${Math.max(0, link.max_uploads - link.uploads_used)} uploads left, the request carries ${stored.length} new images; nothing was stored`);
      }
      this.stmts.use.run({ token_id: tokenId, n: stored.length });
      for (const row of stored) this.stmts.recordImage.run(row.id, tokenId);
      return results;
    })();
  }
}
