import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import { ImageLedger } from '../../src/ledger/images.js';
import { migrate } from '../../src/ledger/migrate.js';
import type { UploadOrder } from '../../src/ledger/types.js';

/**
 * A chatty device (cam-a: 6 images, all oldest) and two quiet ones. Each policy's claim sequence shows
 * its effect: oldest drains cam-a's burst first, newest serves the freshest data, fair interleaves devices.
 */
const ARRIVALS = ['cam-a', 'cam-a', 'cam-a', 'cam-a', 'cam-b', 'cam-a', 'cam-c', 'cam-a', 'cam-b', 'cam-c'];

function seed(): ImageLedger {
  const db = new Database(':memory:');
  migrate(db);
  const ledger = new ImageLedger(db);
  const t0 = Date.now() - 60_000;
  ledger.insertMany(ARRIVALS.map((device, i) => ({
    id: `ID${String(i).padStart(2, '0')}`, device_id: device, sha256: createHash('sha256').update(`ID${i}`).digest('hex'), bytes: 1, content_type: 'image/jpeg',
    path: `images/${i}.jpg`, s3_key: `${device}/${i}.jpg`, received_at: new Date(t0 + i * 1000).toISOString(),
  })));
  return ledger;
}

function drain(ledger: ImageLedger, order: UploadOrder): string[] {
  const claimed: string[] = [];
  for (let row = ledger.claimNext(new Date(), order); row; row = ledger.claimNext(new Date(), order)) claimed.push(`${row.device_id}:${row.id}`);
  return claimed;
}

describe('UPLOAD_ORDER', () => {
  let ledger: ImageLedger;
  beforeEach(() => { ledger = seed(); });

  it('oldest: first in, first out', () => {
    expect(drain(ledger, 'oldest')).toEqual(ARRIVALS.map((d, i) => `${d}:ID${String(i).padStart(2, '0')}`));
  });

  it('newest: the freshest image first', () => {
    expect(drain(ledger, 'newest')).toEqual(ARRIVALS.map((d, i) => `${d}:ID${String(i).padStart(2, '0')}`).reverse());
  });

  it('fair: round-robin across devices, oldest first within each, so a chatty device cannot starve the rest', () => {
    expect(drain(ledger, 'fair')).toEqual([
      'cam-a:ID00', 'cam-b:ID04', 'cam-c:ID06',
      'cam-a:ID01', 'cam-b:ID08', 'cam-c:ID09',
      'cam-a:ID02', 'cam-a:ID03', 'cam-a:ID05', 'cam-a:ID07',
    ]);
  });

  it('fair: reaches the quietest device at the third claim, where oldest reaches it only at the seventh', () => {
    const firstQuiet = (seq: string[]) => seq.findIndex((s) => s.startsWith('cam-c'));
    expect(firstQuiet(drain(seed(), 'fair'))).toBe(2);
    expect(firstQuiet(drain(seed(), 'oldest'))).toBe(6);
  });

  it('every order skips images waiting for their retry time', () => {
    for (const order of ['oldest', 'newest', 'fair'] as const) {
      const l = seed();
      const first = l.claimNext(new Date(), order);
      l.scheduleRetry(first?.id ?? '', new Date(Date.now() + 60_000), 'later');
      const rest = drain(l, order);
      expect(rest).toHaveLength(ARRIVALS.length - 1);
      expect(rest.some((s) => s.endsWith(first?.id ?? '?'))).toBe(false);
    }
  });
});
