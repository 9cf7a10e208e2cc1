import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../log.js';
import { backoffDelayMs } from '../uploader/backoff.js';
import { errorMessage, errnoCode } from '../errors.js';
import { retryWhileBusy, type RetryWhileBusyOptions } from '../ledger/busy.js';
import type { DeliveryLedger, DeliveryRow } from './deliveries.js';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signBody } from './payload.js';

export interface NotifySenderOptions {
  deliveries: DeliveryLedger;
  url: string;
  secret: string;
  log: Logger;
  /** After this many attempts without a 2xx the delivery is `failed`. */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** One POST, from connect to the end of the answer. @default 10000 */
  timeoutMs?: number;
  /** POSTs in flight at once. @default 4 */
  concurrency?: number;
  /** Longest sleep between looks at the ledger; new notifications wake the sender at once. @default 1000 */
  pollMs?: number;
  /** Resolves once every ingest commit made so far is on disk (WalSync.caughtUp); absent when commits are durable as they return. */
  durable?: () => Promise<void>;
}

interface Answer {
  status: number;
  /** The start of the response body, for last_error. */
  snippet: string;
}

class Interrupted extends Error {
  constructor() {
    super('sender stopping');
    this.name = 'Interrupted';
  }
}

const SNIPPET_BYTES = 512;

/**
 * Sends pending webhook deliveries from the ledger, a few at a time, on its own loop: nothing here runs on
 * the upload path. All scheduling state (attempts, next_attempt_at) is in the ledger, so a restart resumes
 * every pending delivery. A POST interrupted by stop() is not counted and stays due.
 */
export class NotifySender {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly stopController = new AbortController();
  private readonly inFlight = new Map<number, Promise<void>>();
  private loopDone: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private woken = false;
  private stopping = false;

  constructor(private readonly o: NotifySenderOptions) {
    this.url = new URL(o.url);
    // No keep-alive: a receiver closing an idle connection would otherwise fail the next POST on it.
    this.agent = this.url.protocol === 'https:' ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
  }

  /** POSTs in flight now. */
  get active(): number {
    return this.inFlight.size;
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  /** A delivery was recorded: look at the ledger now instead of at the next poll. */
  notify(): void {
    this.woken = true;
    this.wake?.();
  }

  /** Stops picking deliveries, aborts the POSTs in flight (they stay pending, uncounted) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopController.abort();
    this.notify();
    await this.loopDone;
    await Promise.allSettled([...this.inFlight.values()]);
    this.agent.destroy();
  }

  /** Waiting out a locked ledger ends with stop(): the delivery then stays pending and is sent again. */
  private lockWait(): RetryWhileBusyOptions {
    return { signal: this.stopController.signal };
  }

  private get concurrency(): number {
    return this.o.concurrency ?? 4;
  }

  private async loop(): Promise<void> {
    const poll = this.o.pollMs ?? 1000;
    while (!this.stopping) {
      let wait = poll;
      try {
        const free = this.concurrency - this.inFlight.size;
        if (free > 0) {
          const now = new Date();
          // Rows in flight are still due in the ledger: ask for enough to skip them.
          const rows = this.o.deliveries.due(now, free + this.inFlight.size).filter((row) => !this.inFlight.has(row.id)).slice(0, free);
          // A delivery recorded by an ingest is in the ledger before its WAL sync ends: never tell of a receipt
          // that a power cut could still take back.
          if (rows.length > 0) await this.o.durable?.();
          if (!this.stopping) for (const row of rows) this.launch(row);
          // With a free slot left, every due row is in flight: sleep until the next one becomes due.
          if (this.inFlight.size < this.concurrency) {
            const next = this.o.deliveries.nextDueAfter(now);
            if (next !== null) wait = Math.min(poll, Math.max(10, next.getTime() - Date.now()));
          }
        }
      } catch (err) {
        this.o.log.error({ err: errorMessage(err) }, 'notification sender: ledger error; trying again after a pause');
      }
      await this.sleep(wait);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private launch(row: DeliveryRow): void {
    const work = this.deliver(row)
      .catch((err: unknown) => {
        this.o.log.error({ delivery_id: row.id, err: errorMessage(err) }, 'notification sender: could not record an outcome; it will be sent again');
      })
      .finally(() => {
        this.inFlight.delete(row.id);
        this.notify();
      });
    this.inFlight.set(row.id, work);
  }

  private async deliver(row: DeliveryRow): Promise<void> {
    const started = Date.now();
    const attempt = row.attempts + 1;
    const fields = { delivery_id: row.id, image_id: row.image_id, event: row.event, attempt };
    let answer: Answer | null = null;
    let networkError = '';
    try {
      answer = await this.post(row);
    } catch (err) {
      if (err instanceof Interrupted) {
        this.o.log.info(fields, 'notification interrupted by shutdown; stays pending');
        return;
      }
      const code = errnoCode(err);
      networkError = code !== undefined && !errorMessage(err).includes(code) ? `${code}: ${errorMessage(err)}` : errorMessage(err);
    }
    const ms = Date.now() - started;
    // Outcomes wait out another process's lock on the ledger (on timers): a delivery left pending would be POSTed again.
    if (answer !== null && answer.status >= 200 && answer.status < 300) {
      const status = answer.status;
      await retryWhileBusy(() => this.o.deliveries.markDelivered(row.id, status, new Date()), this.lockWait());
      this.o.log.info({ ...fields, status: answer.status, ms }, 'notification delivered');
      return;
    }
    const status = answer?.status ?? null;
    const error = answer === null ? networkError : `HTTP ${answer.status}${answer.snippet ? `: ${answer.snippet}` : ''}`;
    if (attempt >= this.o.maxAttempts) {
      await retryWhileBusy(() => this.o.deliveries.markFailed(row.id, status, error), this.lockWait());
      this.o.log.error({ ...fields, status, ms, err: error }, 'notification failed permanently; delivery is failed');
      return;
    }
    const delay = backoffDelayMs(attempt, this.o.retryBaseMs, this.o.retryMaxMs);
    await retryWhileBusy(() => this.o.deliveries.scheduleRetry(row.id, status, error, new Date(Date.now() + delay)), this.lockWait());
    this.o.log.warn({ ...fields, status, ms, retry_in_ms: delay, err: error }, 'notification failed; will retry');
  }

  /** One signed POST; resolves with any HTTP answer, rejects on a network error, a timeout or stop(). */
  private post(row: DeliveryRow): Promise<Answer> {
    const timeoutMs = this.o.timeoutMs ?? 10_000;
    const body = Buffer.from(row.body, 'utf8');
    const stop = this.stopController.signal;
    if (stop.aborted) return Promise.reject(new Interrupted());
    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop.removeEventListener('abort', onStop);
        fn();
      };
      const fail = (err: Error): void => settle(() => reject(err));
      const client = this.url.protocol === 'https:' ? https : http;
      const req = client.request(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': String(body.length),
          'User-Agent': 'image-spool',
          [EVENT_HEADER]: row.event,
          [DELIVERY_HEADER]: String(row.id),
          [SIGNATURE_HEADER]: signBody(this.o.secret, row.body),
        },
      });
      const timer = setTimeout(() => {
        fail(new Error(`no complete answer within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      const onStop = (): void => {
        fail(new Interrupted());
        req.destroy();
      };
      stop.addEventListener('abort', onStop, { once: true });
      req.on('error', fail);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < SNIPPET_BYTES) {
            chunks.push(chunk);
            kept += chunk.length;
          }
        });
        res.on('error', fail);
        res.on('end', () => settle(() => resolve({
          status: res.statusCode ?? 0,
          snippet: Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200),
        })));
        res.on('close', () => {
          if (!res.complete) fail(new Error(`answer ${res.statusCode ?? '?'} cut short`));
        });
      });
      req.end(body);
    });
  }
}
