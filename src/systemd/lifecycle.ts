import type { SystemdSettings } from '../config.js';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../throttle/clock.js';
import { EventLoopLag } from './event-loop-lag.js';
import { createSdNotifier } from './notify.js';
import { STATUS_REFRESH_MS, Watchdog, watchdogIntervalMs, type HealthCheck } from './watchdog.js';

/**
 * Event-loop lag (p99 between ticks) beyond which the loop counts as unhealthy. Measured on the 2-core VM
 * during bursts of 150 concurrent 4 MB ingests (with uploads running): p99 35-110 ms, max 125 ms. A
 * second, nine times that, means requests wait seconds for their turn.
 */
export const EVENT_LOOP_LAG_LIMIT_MS = 1000;

export interface SystemdLinkDeps {
  settings: SystemdSettings;
  log: Logger;
  /** Liveness checks besides the event loop's (the ledger, the spool); null = healthy. */
  checks: Readonly<Record<string, HealthCheck>>;
  /** The STATUS= line: the backlog. */
  status: () => string;
  /** host:port, for the status line sent with READY=1. */
  listening: string;
  clock?: Clock;
  /** The sd_notify sender program (tests). */
  command?: string;
}

export interface SystemdLink {
  /** STOPPING=1 (the first SIGTERM): no pings after it. Resolves once the message is out or given up. */
  stopping(): Promise<void>;
}

/**
 * Call once the service listens (recovery done, uploader started): READY=1, then the watchdog's ticks.
 * Without NOTIFY_SOCKET (not run by systemd, or Type=simple) it does nothing at all.
 */
export function startSystemdLink(deps: SystemdLinkDeps): SystemdLink {
  const notifier = createSdNotifier({ socket: deps.settings.notifySocket, log: deps.log, command: deps.command });
  if (!notifier.enabled) return { stopping: () => Promise.resolve() };
  const intervalMs = watchdogIntervalMs(deps.settings, process.pid);
  const lag = new EventLoopLag();
  const watchdog = new Watchdog({
    notifier,
    ping: intervalMs !== null,
    intervalMs: intervalMs ?? STATUS_REFRESH_MS,
    checks: { event_loop: () => lagProblem(lag.take()), ...deps.checks },
    status: deps.status,
    clock: deps.clock ?? systemClock,
    log: deps.log,
  });
  lag.start();
  // Sent before the first tick's message: the notifier keeps call order.
  void notifier.send({ READY: '1', STATUS: `listening on ${deps.listening}` });
  watchdog.start();
  deps.log.info({ notify_socket: deps.settings.notifySocket, watchdog_ping_ms: intervalMs }, 'told systemd: ready');
  return {
    async stopping() {
      watchdog.stop();
      lag.stop();
      await notifier.send({ STOPPING: '1', STATUS: 'draining: finishing ingests in flight, re-queueing unfinished uploads' });
    },
  };
}

function lagProblem(p99Ms: number): string | null {
  return p99Ms > EVENT_LOOP_LAG_LIMIT_MS ? `event loop lag p99 ${Math.round(p99Ms)} ms (limit ${EVENT_LOOP_LAG_LIMIT_MS} ms)` : null;
}
