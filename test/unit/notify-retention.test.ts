/** NOTIFY_KEEP_HOURS: finished webhook deliveries are pruned after the retention; pending ones never are. */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/ledger/open.js';
import { DeliveryLedger } from '../../src/notify/deliveries.js';
import { DeliveryRetention } from '../../src/notify/retention.js';
import { tempLedger, type TempLedger } from '../helpers/ledger.js';

describe('webhook delivery retention', () => {
  let temp: TempLedger;
  let db: Db;
  let deliveries: DeliveryLedger;
  beforeEach(() => {
    temp = tempLedger('retention-');
    db = temp.db;
    deliveries = new DeliveryLedger(db);
  });
  afterEach(() => temp.remove());

  it('deletes delivered and failed rows older than the retention, in batches, and keeps pending and recent ones', () => {
    const now = new Date('2026-11-23T12:00:00Z');
    const hoursAgo = (h: number): Date => new Date(now.getTime() - h * 3_600_000);
    const kept: number[] = [];
    // 12,000 old delivered rows: more than two batches.
    db.transaction(() => {
      for (let i = 0; i < 12_000; i++) deliveries.markDelivered(deliveries.insert(`OLD${i}`, 'uploaded', '{}', hoursAgo(100)), 200, hoursAgo(100));
    })();
    const oldFailed = deliveries.insert('F', 'dead', '{}', hoursAgo(80));
    deliveries.markFailed(oldFailed, 500, 'gave up');
    kept.push(deliveries.insert('P', 'uploaded', '{}', hoursAgo(200))); // still owed: never pruned
    const recent = deliveries.insert('R', 'uploaded', '{}', hoursAgo(10));
    deliveries.markDelivered(recent, 200, hoursAgo(10));
    kept.push(recent);

    const retention = new DeliveryRetention({ deliveries, keepMs: 72 * 3_600_000, log: pino({ level: 'silent' }), now: () => now });
    expect(retention.pruneNow()).toBe(12_001);
    expect(deliveries.all().map((d) => d.id)).toEqual(kept);
    expect(retention.pruneNow()).toBe(0);
    const plan = JSON.stringify(db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM notify_deliveries WHERE state <> 'pending' AND created_at < ? LIMIT 5000`).all('x'));
    expect(plan).toMatch(/notify_deliveries_finished/);
  });
});
