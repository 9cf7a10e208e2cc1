import type { SystemdSettings } from '../config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { Clock } from '../throttle/clock.js';
import type { SdNotifier } from './notify.js';

/** A health check: null when healthy, else why not. */
export type HealthCheck = () => string | null | Promise<string | null>;

/** How often STATUS= is refreshed when systemd runs no watchdog for us. */
export const STATUS_REFRESH_MS = 10_000;

/**
 * Half of WatchdogSec, as sd_watchdog_enabled(3) advises, or null when there is no watchdog for this
 * process: not run by systemd, no WatchdogSec=, or WATCHDOG_PID names another process (a child that
 * inherited the environment must not ping for its parent).
 */
export function watchdogIntervalMs(settings: SystemdSettings, pid: number): number | null {
  if (settings.notifySocket === null || settings.watchdogUsec === null) return null;
  if (settings.watchdogPid !== null && settings.watchdogPid !== pid) return null;
  return Math.max(1, Math.floor(settings.watchdogUsec / 2000));
}

export interface WatchdogOptions {
  notifier: SdNotifier;
  /** Whether WATCHDOG=1 is sent at all; without it the ticks only refresh STATUS=. */
  ping: boolean;
  /** Between the end of one tick and the start of the next, less the time the tick took. */
  intervalMs: number;
  checks: Readonly<Record<string, HealthCheck>>;
  /** The STATUS= line (`systemctl status` shows it): the backlog, say. */
  status: () => string;
  clock: Clock;
  log: Logger;
}

export interface TickOutcome {
  pinged: boolean;
  /** Failed checks by name, with why. */
  failed: Record<string, string>;
}

/**
 * Pings systemd's watchdog only while every check passes, so systemd restarts a process that still runs
 * but can no longer do its job (Restart=on-failure counts a watchdog timeout as a failure). The ticks
 * run on the event loop one after another: a check that never returns stops the pings too.
 */
export class Watchdog {
  private timer: unknown = null;
  private started = false;
  private stopped = false;
  private lastFailed = '';

  constructor(private readonly o: WatchdogOptions) {}

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  /** No message is sent after this returns, not even by a tick whose checks are still running. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  async tick(): Promise<TickOutcome> {
    const failed = await runChecks(this.o.checks);
    const names = Object.keys(failed);
    const pinged = this.o.ping && names.length === 0;
    if (this.stopped) return { pinged: false, failed };
    const summary = names.map((name) => `${name}: ${failed[name]}`).join('; ');
    this.report(summary);
    const status = summary === '' ? this.statusLine() : `UNHEALTHY${this.o.ping ? ' (watchdog ping withheld)' : ''}: ${summary} | ${this.statusLine()}`;
    void this.o.notifier.send(pinged ? { WATCHDOG: '1', STATUS: status } : { STATUS: status });
    return { pinged, failed };
  }

  private schedule(delayMs: number): void {
    this.timer = this.o.clock.setTimeout(() => {
      const started = this.o.clock.now();
      void this.tick().then(() => {
        if (!this.stopped) this.schedule(Math.max(0, this.o.intervalMs - (this.o.clock.now() - started)));
      });
    }, delayMs);
  }

  private statusLine(): string {
    try {
      return this.o.status();
    } catch (err) {
      return `status unavailable: ${errorMessage(err)}`;
    }
  }

  /** A warning on every unhealthy tick (the journal then shows why before systemd acts), one line on recovery. */
  private report(summary: string): void {
    if (summary !== '') this.o.log.warn({ failed: summary, watchdog_ping: this.o.ping ? 'withheld' : 'off' }, 'health check failed');
    else if (this.lastFailed !== '') this.o.log.info({ was: this.lastFailed }, 'health checks pass again');
    this.lastFailed = summary;
  }
}

async function runChecks(checks: Readonly<Record<string, HealthCheck>>): Promise<Record<string, string>> {
  const results = await Promise.all(Object.entries(checks).map(async ([name, check]) => {
    try {
      return [name, await check()] as const;
    } catch (err) {
      return [name, `check failed: ${errorMessage(err)}`] as const;
    }
  }));
  const failed: Record<string, string> = {};
  for (const [name, problem] of results) if (problem !== null) failed[name] = problem;
  return failed;
}
