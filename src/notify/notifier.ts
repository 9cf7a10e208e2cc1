import type { NotifySettings } from '../config.js';
import { errorMessage } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Db } from '../ledger/open.js';
import type { ImageRow } from '../ledger/types.js';
import type { Logger } from '../log.js';
import type { Uploader } from '../uploader/uploader.js';
import { DeliveryLedger, type NotifyEvent } from './deliveries.js';
import { notificationBody } from './payload.js';
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
  db: Db;
  images: Pick<ImageLedger, 'get'>;
  uploader: Pick<Uploader, 'on'>;
  log: Logger;
  /** Test seams for the sender; production uses its defaults (10 s timeout, 4 at a time). */
  timeoutMs?: number;
  concurrency?: number;
}

/**
 * Outcome webhooks (NOTIFY_URL). The uploader's events only insert a delivery row (one small ledger write,
 * so a crash after it loses nothing); the sender POSTs rows on its own loop. Call before uploader.start().
 */
export function createNotifications(o: NotificationsOptions): Notifications {
  const deliveries = new DeliveryLedger(o.db);
  const settings = o.settings;
  if (settings === null) {
    return {
      deliveries,
      sender: null,
      start() {
        const pending = deliveries.pendingCount();
        if (pending > 0) o.log.warn({ pending }, 'NOTIFY_URL is not set: pending notifications stay in the ledger until it is');
      },
      stop: () => Promise.resolve(),
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
  });
  // An event listener must never throw: it runs inside the uploader, after the image's own ledger write.
  const record = (event: NotifyEvent, row: ImageRow): void => {
    try {
      const now = new Date();
      // The event carries the row as claimed; the ledger has its final state, time and error.
      const current = o.images.get(row.id) ?? row;
      deliveries.insert(row.id, event, notificationBody(event, current, now), now);
      sender.notify();
    } catch (err) {
      o.log.error({ id: row.id, event, err: errorMessage(err) }, 'could not record a notification in the ledger; it will not be sent');
    }
  };
  o.uploader.on('image:uploaded', (row) => record('uploaded', row));
  o.uploader.on('image:dead', (row) => record('dead', row));
  const url = new URL(settings.url);
  return {
    deliveries,
    sender,
    start() {
      // The origin only: never the secret, credentials, a query string, or a path (chat webhooks put their token there).
      o.log.info({ url: url.origin, pending: deliveries.pendingCount(), max_attempts: settings.maxAttempts }, 'notifications enabled');
      sender.start();
    },
    stop: () => sender.stop(),
  };
}
