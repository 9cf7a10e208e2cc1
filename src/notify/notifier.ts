import type { NotifySettings } from '../config.js';
import { errorMessage } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Db } from '../ledger/open.js';
import type { Logger } from '../log.js';
import { DeliveryLedger } from './deliveries.js';
import { notificationBody } from './payload.js';
import { DeliveryRetention } from './retention.js';
import { NotifySender } from './sender.js';

export interface Notifications {
  readonly deliveries: DeliveryLedger;
  /** Null when NOTIFY_URL is not set. */
  readonly sender: NotifySender | null;
  start(): void;
  stop(): Promise<void>;
}

export interface NotificationsOptions {
  settings: NotifySettings | null;
  /** NOTIFY_KEEP_HOURS: finished deliveries older than this are pruned (with or without NOTIFY_URL). */
  keepHours: number;
  db: Db;
  images: Pick<ImageLedger, 'onOutcome'>;
  log: Logger;
  /** Passed to the sender (NotifySenderOptions.durable): WalSync.caughtUp. */
  durable?: () => Promise<void>;
  /** Test seams for the sender; production uses its defaults (10 s timeout, 4 at a time). */
  timeoutMs?: number;
  concurrency?: number;
}

/**
 * Outcome webhooks (NOTIFY_URL). An outcome inserts one delivery row per receipt of the bytes, in the same
 * transaction that records the outcome (so a crash cannot keep one without the other); the sender POSTs rows
 * on its own loop. Call before recovery, which can declare images dead.
 */
export function createNotifications(o: NotificationsOptions): Notifications {
  const deliveries = new DeliveryLedger(o.db);
  const retention = new DeliveryRetention({ deliveries, keepMs: o.keepHours * 3_600_000, log: o.log });
  const settings = o.settings;
  if (settings === null) {
    return {
      deliveries,
      sender: null,
      start() {
        const pending = deliveries.pendingCount();
        if (pending > 0) o.log.warn({ pending }, 'NOTIFY_URL is not set: pending notifications stay in the ledger until it is');
        retention.start();
      },
      stop: () => {
        retention.stop();
        return Promise.resolve();
      },
    };
  }
  const sender = new NotifySender({
    deliveries,
    url: settings.url,
    secret: settings.secret,
    maxAttempts: settings.maxAttempts,
    retryBaseMs: settings.retryBaseMs,
    retryMaxMs: settings.retryMaxMs,
    log: o.log,
    timeoutMs: o.timeoutMs,
    concurrency: o.concurrency,
    durable: o.durable,
  });
  // Runs inside the ledger transaction recording the outcome: never throw (that would undo the outcome).
  o.images.onOutcome((event, receipts, now) => {
    try {
      deliveries.insertMany(receipts.map((r) => ({ imageId: r.row.id, event, body: notificationBody(event, r, now) })), now);
      sender.notify();
    } catch (err) {
      o.log.error({ ids: receipts.map((r) => r.row.id), event, err: errorMessage(err) }, 'could not record a notification in the ledger; it will not be sent');
    }
  });
  const url = new URL(settings.url);
  return {
    deliveries,
    sender,
    start() {
      // The origin only: never the secret, credentials, a query string, or a path (chat webhooks put their token there).
      o.log.info({ url: url.origin, pending: deliveries.pendingCount(), max_attempts: settings.maxAttempts }, 'notifications enabled');
      sender.start();
      retention.start();
    },
    stop: () => {
      retention.stop();
      return sender.stop();
    },
  };
}
