import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { migrate } from '../../src/ledger/migrate.js';
import { SettingsStore } from '../../src/ledger/settings.js';
import { BandwidthController } from '../../src/throttle/bandwidth-controller.js';
import { parseSchedule } from '../../src/throttle/schedule.js';
import { TokenBucket } from '../../src/throttle/token-bucket.js';

describe('BandwidthController', () => {
  afterEach(() => vi.useRealTimers());

  it('switches the shared bucket to the next timetable entry within 1 s of its time', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(2026, 10, 23, 7, 59, 58, 300)); // local time, 1.7 s before 08:00
    const db = new Database(':memory:');
    migrate(db);
    const bucket = new TokenBucket({ rate: Infinity });
    const controller = new BandwidthController(bucket, parseSchedule('08:00,40Mbit 18:00,100Mbit'), new SettingsStore(db), pino({ level: 'silent' }));
    controller.start();
    expect(bucket.rate).toBe(12_500_000);
    vi.advanceTimersByTime(1700); // 08:00:00.000 exactly
    const switchedBy = (() => {
      for (let ms = 0; ms <= 1000; ms += 10) {
        if (bucket.rate === 5_000_000) return ms;
        vi.advanceTimersByTime(10);
      }
      return Infinity;
    })();
    expect(switchedBy).toBeLessThanOrEqual(1000);
    controller.stop();
  });

  it('an override wins over the timetable until cleared', () => {
    const db = new Database(':memory:');
    migrate(db);
    const bucket = new TokenBucket({ rate: Infinity });
    const controller = new BandwidthController(bucket, parseSchedule('100Mbit'), new SettingsStore(db), pino({ level: 'silent' }));
    controller.start();
    controller.setOverride('8Mbit');
    expect(bucket.rate).toBe(1_000_000);
    expect(() => controller.setOverride('8 bananas')).toThrow(/invalid rate/);
    expect(bucket.rate).toBe(1_000_000);
    controller.setOverride(null);
    expect(bucket.rate).toBe(12_500_000);
    controller.stop();
  });
});
