import type { ImageLedger } from '../ledger/images.js';
import type { Logger } from '../log.js';
import type { SpoolStore } from './store.js';

/**
 * SPOOL_FULL_POLICY=evict-oldest: the ledger marks the oldest queued images `evicted` in one transaction
 * (never one being uploaded), then their files are deleted. A crash between the two leaves files whose rows
 * say `evicted`: startup recovery deletes them. Every eviction is logged: it is data the operator chose to drop.
 */
export async function evictOldest(ledger: ImageLedger, store: SpoolStore, bytes: number, log: Logger): Promise<number> {
  const victims = ledger.evictOldest(bytes, 'evicted: spool full (SPOOL_FULL_POLICY=evict-oldest)');
  let freed = 0;
  for (const v of victims) {
    await store.discard(store.absolutePath(v.path));
    freed += v.bytes;
    log.warn({ id: v.id, bytes: v.bytes, evicted: true }, 'image evicted to make room (SPOOL_FULL_POLICY=evict-oldest)');
  }
  return freed;
}
