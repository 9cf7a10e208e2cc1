import { randomBytes } from 'node:crypto';
import type { Db } from '../ledger/open.js';
import { hashesMatch, newTokenId, secretHash } from '../links/secret.js';

export interface DeviceTokenInfo {
  token_id: string;
  device_id: string;
  created_at: string;
  revoked_at: string | null;
}

/** `isd_` + 32 random bytes, base64url: recognisable in a config file, 256 bits of secret. */
const TOKEN_PATTERN = /^isd_[A-Za-z0-9_-]{43}$/;

/**
 * Device credentials for DEVICE_AUTH=token. The ledger keeps only each token's SHA-256; a presented token
 * is found through that unique index and then compared in constant time. The CLI adds and revokes tokens
 * straight in the ledger (safe while the service runs: WAL), and the service sees them at the next request.
 */
export class DeviceTokens {
  private readonly stmts;

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare('INSERT INTO device_tokens (token_id, device_id, token_sha256, created_at) VALUES (?, ?, ?, ?)'),
      byHash: db.prepare('SELECT device_id, token_sha256, revoked_at FROM device_tokens WHERE token_sha256 = ?'),
      revoke: db.prepare('UPDATE device_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL'),
      revokeDevice: db.prepare('UPDATE device_tokens SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL'),
      list: db.prepare('SELECT token_id, device_id, created_at, revoked_at FROM device_tokens ORDER BY device_id, created_at'),
    };
  }

  /** Creates a token for `deviceId`; the returned token is never stored and cannot be shown again. */
  add(deviceId: string, now = new Date()): { token: string; token_id: string } {
    const token = `isd_${randomBytes(32).toString('base64url')}`;
    const tokenId = newTokenId();
    this.stmts.insert.run(tokenId, deviceId, secretHash(token), now.toISOString());
    return { token, token_id: tokenId };
  }

  /** Revokes one token (by id) or every token of a device; returns how many were revoked. */
  revoke(target: { tokenId: string } | { deviceId: string }, now = new Date()): number {
    const at = now.toISOString();
    return 'tokenId' in target ? this.stmts.revoke.run(at, target.tokenId).changes : this.stmts.revokeDevice.run(at, target.deviceId).changes;
  }

  list(): DeviceTokenInfo[] {
    return this.stmts.list.all() as DeviceTokenInfo[];
  }

  /** The device a bearer token belongs to, or null (unknown, malformed or revoked). */
  deviceFor(token: string): string | null {
    if (!TOKEN_PATTERN.test(token)) return null;
    const presented = secretHash(token);
    const row = this.stmts.byHash.get(presented) as { device_id: string; token_sha256: string; revoked_at: string | null } | undefined;
    if (!row || row.revoked_at !== null || !hashesMatch(row.token_sha256, presented)) return null;
    return row.device_id;
  }
}
