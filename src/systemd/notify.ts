import { execFile } from 'node:child_process';
import { errnoCode } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The sd_notify protocol (READY=1, WATCHDOG=1, STOPPING=1, STATUS=...), sent by `systemd-notify`.
 *
 * Why a child process: the protocol is one datagram on a unix socket, and Node can send neither unix
 * datagrams (`dgram` is UDP only, `net` is stream only) nor, without a native addon, anything else that
 * would do. `systemd-notify` ships with systemd itself, so it is there wherever NOTIFY_SOCKET is set.
 * Since systemd 246 it waits (BARRIER=1) until systemd has read the message before exiting, which
 * closes the race where systemd cannot tell which unit a message came from because its sender is gone.
 * The message's sender is the child, not this process, so the unit needs NotifyAccess=all
 * (deploy/image-spool.service). One child per message: at most one every few seconds.
 */
export interface SdNotifier {
  /** False when NOTIFY_SOCKET is unset: every call resolves at once and sends nothing. */
  readonly enabled: boolean;
  /** Sends the assignments as one message, in call order; resolves false (logged) when it could not. */
  send(fields: Readonly<Record<string, string>>): Promise<boolean>;
}

export interface SdNotifyOptions {
  /** NOTIFY_SOCKET, or null for a no-op notifier. */
  socket: string | null;
  log: Logger;
  /** The sender program; tests may name another. */
  command?: string;
  /** A message not delivered by then is given up (systemd-notify's own barrier wait is 5 s). */
  timeoutMs?: number;
}

export function createSdNotifier(options: SdNotifyOptions): SdNotifier {
  const { socket, log } = options;
  if (socket === null) return { enabled: false, send: () => Promise.resolve(false) };
  const command = options.command ?? 'systemd-notify';
  const timeoutMs = options.timeoutMs ?? 10_000;
  let queue: Promise<unknown> = Promise.resolve();
  let missingReported = false;

  const deliver = (fields: Readonly<Record<string, string>>): Promise<boolean> => new Promise((resolve) => {
    const args = Object.entries(fields).map(([key, value]) => `${key}=${oneLine(value)}`);
    execFile(command, args, { env: { NOTIFY_SOCKET: socket }, timeout: timeoutMs }, (err, _stdout, stderr) => {
      if (err === null) {
        resolve(true);
        return;
      }
      if (errnoCode(err) === 'ENOENT') {
        // Without it systemd never hears READY=1 and gives up on the start after TimeoutStartSec.
        if (!missingReported) log.error({ command }, 'NOTIFY_SOCKET is set but systemd-notify is not installed: systemd will not hear READY=1 or watchdog pings');
        missingReported = true;
      } else {
        log.warn({ command, fields: Object.keys(fields), err: stderr.trim() || err.message }, 'sd_notify message not delivered');
      }
      resolve(false);
    });
  });

  return {
    enabled: true,
    send(fields) {
      // In order: READY=1 must not overtake a STATUS sent before it, nor a ping overtake STOPPING=1.
      const sent = queue.then(() => deliver(fields));
      queue = sent;
      return sent;
    },
  };
}

/** A message is newline-separated assignments: a value must stay on one line. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}
