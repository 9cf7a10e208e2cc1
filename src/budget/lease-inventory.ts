/**
 * Bytes leased from the shared budget and not yet sent, each lease with an expiry. A byte is never sent
 * on a lease older than its expiry, which bounds what every gateway together can send in any window of
 * length T by what the shared bucket granted in T plus the expiry before it (docs/SCALING.md), however
 * many gateways there are. Spent oldest first, so expiry only takes what a gateway could not use in time.
 */
export class LeaseInventory {
  private readonly leases: Array<{ bytes: number; expiresAt: number }> = [];

  add(bytes: number, expiresAt: number): void {
    if (bytes > 0) this.leases.push({ bytes, expiresAt });
  }

  /** Bytes held at `now`, after dropping expired leases. */
  held(now: number): number {
    while (this.leases.length > 0 && (this.leases[0] as { expiresAt: number }).expiresAt <= now) this.leases.shift();
    return this.leases.reduce((sum, lease) => sum + lease.bytes, 0);
  }

  /** Takes `bytes` from the oldest leases if that many are held; otherwise takes nothing and returns false. */
  take(bytes: number, now: number): boolean {
    if (this.held(now) < bytes) return false;
    let left = bytes;
    while (left > 0) {
      const oldest = this.leases[0] as { bytes: number };
      const used = Math.min(left, oldest.bytes);
      oldest.bytes -= used;
      left -= used;
      if (oldest.bytes <= 0) this.leases.shift();
    }
    return true;
  }

  clear(): void {
    this.leases.length = 0;
  }
}
