/**
 * The watchdog's decisions with a hand-driven clock and checks: it pings at half of WatchdogSec only
 * while every check passes, says in STATUS= which check failed, never lets ticks overlap (a hung check
 * stops the pings, as a hung process would), and sends nothing after stop().
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { SystemdSettings } from '../../src/config.js';
import { loadConfig } from '../../src/config.js';
import { EventLoopLag } from '../../src/systemd/event-loop-lag.js';
import type { SdNotifier } from '../../src/systemd/notify.js';
import { createSdNotifier } from '../../src/systemd/notify.js';
import { statusLine } from '../../src/systemd/status-line.js';
import { Watchdog, watchdogIntervalMs, type HealthCheck } from '../../src/systemd/watchdog.js';
import { FakeClock } from '../helpers/fake-clock.js';

const silent = pino({ level: 'silent' });

interface Sent {
  at: number;
  fields: Record<string, string>;
}

function recorder(clock: FakeClock): SdNotifier & { sent: Sent[] } {
  const sent: Sent[] = [];
  return { enabled: true, sent, send: (fields) => { sent.push({ at: clock.now(), fields: { ...fields } }); return Promise.resolve(true); } };
}

function watchdog(clock: FakeClock, checks: Record<string, HealthCheck>, ping = true) {
  const notifier = recorder(clock);
  const dog = new Watchdog({ notifier, ping, intervalMs: 500, checks, status: () => 'backlog 3 images', clock, log: silent });
  return { dog, sent: notifier.sent, pings: () => notifier.sent.filter((m) => m.fields['WATCHDOG'] === '1').map((m) => m.at) };
}

const settings = (s: Partial<SystemdSettings>): SystemdSettings => ({ notifySocket: '/run/systemd/notify', watchdogUsec: null, watchdogPid: null, ...s });

describe('watchdog interval', () => {
  it('is half of WATCHDOG_USEC, and off without systemd, without WatchdogSec, or for another process', () => {
    expect(watchdogIntervalMs(settings({ watchdogUsec: 30_000_000 }), 42)).toBe(15_000);
    expect(watchdogIntervalMs(settings({ watchdogUsec: 30_000_000, watchdogPid: 42 }), 42)).toBe(15_000);
    expect(watchdogIntervalMs(settings({ watchdogUsec: 30_000_000, watchdogPid: 41 }), 42)).toBeNull();
    expect(watchdogIntervalMs(settings({ watchdogUsec: null }), 42)).toBeNull();
    expect(watchdogIntervalMs(settings({ notifySocket: null, watchdogUsec: 30_000_000 }), 42)).toBeNull();
  });

  it('reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID in config.ts, and names a bad one', () => {
    expect(loadConfig({}).systemd).toEqual({ notifySocket: null, watchdogUsec: null, watchdogPid: null });
    expect(loadConfig({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1234' }).systemd)
      .toEqual({ notifySocket: '@/org/freedesktop/systemd1/notify', watchdogUsec: 30_000_000, watchdogPid: 1234 });
    expect(() => loadConfig({ NOTIFY_SOCKET: 'relative/notify' })).toThrow(/NOTIFY_SOCKET="relative\/notify"/);
    expect(() => loadConfig({ WATCHDOG_USEC: '30s' })).toThrow(/WATCHDOG_USEC="30s"/);
  });
});

describe('watchdog ticks', () => {
  it('pings every interval while healthy, withholds while a check fails, and resumes', async () => {
    const clock = new FakeClock();
    let ledger: string | null = null;
    const { dog, sent, pings } = watchdog(clock, { ledger: () => ledger, spool: () => Promise.resolve(null) });
    dog.start();
    await clock.advance(1200);
    expect(pings()).toEqual([0, 500, 1000]);
    expect(sent.at(-1)?.fields).toEqual({ WATCHDOG: '1', STATUS: 'backlog 3 images' });

    ledger = 'database is locked';
    await clock.advance(1000);
    expect(pings()).toEqual([0, 500, 1000]); // ticks at 1500 and 2000 withheld
    const unhealthy = sent.filter((m) => m.at >= 1500);
    expect(unhealthy).toHaveLength(2);
    for (const m of unhealthy) expect(m.fields).toEqual({ STATUS: 'UNHEALTHY (watchdog ping withheld): ledger: database is locked | backlog 3 images' });

    ledger = null;
    await clock.advance(500);
    expect(pings()).toEqual([0, 500, 1000, 2500]);
    dog.stop();
  });

  it('counts a check that throws as failed, and names every failed check', async () => {
    const clock = new FakeClock();
    const { dog, sent, pings } = watchdog(clock, {
      ledger: () => { throw new Error('SQLITE_IOERR'); },
      spool: () => Promise.reject(new Error('EROFS')),
      event_loop: () => null,
    });
    const outcome = await dog.tick();
    expect(outcome).toEqual({ pinged: false, failed: { ledger: 'check failed: SQLITE_IOERR', spool: 'check failed: EROFS' } });
    expect(pings()).toEqual([]);
    expect(sent[0]?.fields['STATUS']).toBe('UNHEALTHY (watchdog ping withheld): ledger: check failed: SQLITE_IOERR; spool: check failed: EROFS | backlog 3 images');
  });

  it('keeps the interval from tick start to tick start when a check takes time', async () => {
    const clock = new FakeClock();
    const slow: HealthCheck = () => new Promise((resolve) => clock.setTimeout(() => resolve(null), 200));
    const { dog, pings } = watchdog(clock, { spool: slow });
    dog.start();
    await clock.advance(1300);
    expect(pings()).toEqual([200, 700, 1200]);
    dog.stop();
  });

  it('stops pinging when a check never returns: ticks never overlap', async () => {
    const clock = new FakeClock();
    let hang = false;
    const { dog, pings } = watchdog(clock, { spool: () => (hang ? new Promise<null>(() => undefined) : null) });
    dog.start();
    await clock.advance(600);
    hang = true;
    await clock.advance(10_000);
    expect(pings()).toEqual([0, 500]);
    dog.stop();
  });

  it('sends nothing after stop(), even from a tick whose checks were still running', async () => {
    const clock = new FakeClock();
    const { dog, sent } = watchdog(clock, { spool: () => new Promise((resolve) => clock.setTimeout(() => resolve(null), 100)) });
    dog.start();
    await clock.advance(50); // tick 0 waits for its check
    dog.stop();
    await clock.advance(5000);
    expect(sent).toEqual([]);
  });

  it('without WatchdogSec only refreshes STATUS=, unhealthy or not', async () => {
    const clock = new FakeClock();
    let spool: string | null = null;
    const { dog, sent, pings } = watchdog(clock, { spool: () => spool }, false);
    dog.start();
    await clock.advance(100);
    spool = 'cannot create files in /var/lib/image-spool/images: ENOENT';
    await clock.advance(500);
    expect(pings()).toEqual([]);
    expect(sent.map((m) => m.fields)).toEqual([
      { STATUS: 'backlog 3 images' },
      { STATUS: 'UNHEALTHY: spool: cannot create files in /var/lib/image-spool/images: ENOENT | backlog 3 images' },
    ]);
    dog.stop();
  });
});

describe('event-loop lag', () => {
  it('reads near zero on an idle loop and the stall length on a stalled one', async () => {
    const lag = new EventLoopLag();
    lag.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(lag.take()).toBeLessThan(100);
      // Three 300 ms stalls with a turn of the loop between them: most samples are stalls.
      for (let i = 0; i < 3; i++) {
        const until = performance.now() + 300;
        while (performance.now() < until) { /* stall the loop */ }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(lag.take()).toBeGreaterThan(250);
    } finally {
      lag.stop();
    }
  });
});

describe('sd_notify sender', () => {
  it('does nothing when NOTIFY_SOCKET is unset (not even look for the program)', async () => {
    const errors: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => { errors.push(line); } });
    const notifier = createSdNotifier({ socket: null, log, command: '/nonexistent/systemd-notify' });
    expect(notifier.enabled).toBe(false);
    expect(await notifier.send({ READY: '1' })).toBe(false);
    expect(errors).toEqual([]);
  });

  it('reports a missing systemd-notify once, and keeps running', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => { lines.push(line); } });
    const notifier = createSdNotifier({ socket: '/run/systemd/notify', log, command: '/nonexistent/systemd-notify' });
    expect(await notifier.send({ READY: '1' })).toBe(false);
    expect(await notifier.send({ WATCHDOG: '1' })).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/systemd-notify is not installed/);
  });
});

describe('status line', () => {
  it('says what waits, how soon it drains at the budget, and what is dead', () => {
    const summary = { queued: 10, uploading: 2, uploaded: 500, dead: 1, evicted: 0, duplicate: 0, backlog_bytes: 48_000_000, oldest_queued_at: '2026-03-01T10:00:00.000Z' };
    expect(statusLine(summary, 12_500_000 / 10)).toBe('backlog 12 images (48.0 MB, 2 uploading, oldest queued 2026-03-01T10:00:00.000Z); budget 10Mbit/s, drains in 39s; dead 1');
    expect(statusLine({ ...summary, queued: 0, uploading: 0, backlog_bytes: 0, oldest_queued_at: null }, Infinity))
      .toBe('backlog 0 images (0.0 MB, 0 uploading); budget off, no upload limit; dead 1');
  });
});
