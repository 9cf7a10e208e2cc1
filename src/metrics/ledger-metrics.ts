import { Gauge, type Registry } from 'prom-client';
import { lockHolders } from '../ledger/lock-holders.js';

export interface LedgerMetricSources {
  /** Size of ledger.db-wal on disk (WalWatch.walBytes). */
  walBytes(): Promise<number>;
  /** A reader keeps the WAL over LEDGER_WAL_MAX_BYTES (WalWatch.pinned); null when unknown. */
  walPinned(): boolean | null;
  /** ledger.db, whose locks other processes may hold. */
  ledgerFile: string;
}

/** The ledger's file-level health, read at scrape time: what another process's transaction does to it (issue 18). */
export function registerLedgerMetrics(registry: Registry, s: LedgerMetricSources): void {
  const registers = [registry];
  new Gauge({
    name: 'image_spool_ledger_wal_bytes', help: 'Size of the ledger\'s write-ahead log (ledger.db-wal) on disk; checkpointed back under LEDGER_WAL_MAX_BYTES once no reader pins it.', registers,
    async collect() { this.set(await s.walBytes()); },
  });
  new Gauge({
    name: 'image_spool_ledger_wal_pinned', help: '1 while the WAL is over LEDGER_WAL_MAX_BYTES and a read transaction (another process) keeps checkpoints from copying it.', registers,
    collect() { this.set(s.walPinned() === true ? 1 : 0); },
  });
  new Gauge({
    name: 'image_spool_ledger_locked', help: '1 while another process holds the ledger\'s write lock (from /proc/locks): ingest answers 503 ledger_busy meanwhile.', registers,
    async collect() {
      const holders = await lockHolders(s.ledgerFile).catch(() => null);
      this.set(holders !== null && holders.writers.length > 0 ? 1 : 0);
    },
  });
}
