import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { SpoolError, errorMessage } from '../errors.js';
import type { BytesPerSecond } from '../throttle/rate.js';
import { LEASE_LUA, OVERRIDE_LUA, SYNC_LUA } from './lease-script.js';

export interface LeaseRequest {
  /** Bytes wanted; at most `leaseMs` of the rate is granted. */
  want: number;
  /** Grant nothing below this many bytes (then `waitMs` says when they will have accrued). */
  min: number;
  leaseMs: number;
  burstMs: number;
  /** This gateway's timetable rate (Infinity = off), used unless an override is stored. */
  scheduleRate: BytesPerSecond;
}

export interface LeaseReply {
  granted: number;
  /** The shared rate in force (override, else timetable); Infinity when off. */
  rate: BytesPerSecond;
  waitMs: number;
  override: string | null;
}

export interface SyncReply {
  override: string | null;
  /** UPLOAD_BWLIMIT as another gateway wrote it, when it differs from ours; else null. */
  otherSchedule: string | null;
}

/** What the shared budget needs from its store: one interface, so a test can swap a failure in. */
export interface BudgetStore {
  /** Resolves once connected; rejects after `timeoutMs` or on a refused connection (it keeps retrying in the background). */
  connect(timeoutMs: number): Promise<void>;
  lease(request: LeaseRequest): Promise<LeaseReply>;
  sync(schedule: { rate: BytesPerSecond; text: string }, lastOverride: { rate: BytesPerSecond; text: string } | null): Promise<SyncReply>;
  setOverride(override: { rate: BytesPerSecond; text: string } | null): Promise<void>;
  /** Where it connects, without credentials, for logs. */
  readonly describe: string;
  close(): Promise<void>;
}

export interface RedisStoreOptions {
  url: string;
  key: string;
  /** A command not answered within this is an error (then the gateway falls back). @default 200 */
  commandTimeoutMs?: number;
}

const encodeRate = (rate: BytesPerSecond): string => (Number.isFinite(rate) ? String(rate) : '-1');
const decodeRate = (raw: string): BytesPerSecond => (Number(raw) < 0 ? Infinity : Number(raw));

/**
 * The shared bucket in Redis through ioredis. Commands fail fast instead of queueing: no offline queue,
 * no resend after a reconnect, a short command timeout. A lease that waited in a queue while Redis was
 * away would arrive late and stale; the caller's fallback is the better answer. The client reconnects
 * on its own in the background (every 200 ms-1 s), so the next command after Redis returns succeeds.
 */
export class RedisBudgetStore implements BudgetStore {
  private readonly redis: Redis;
  private readonly key: string;
  private readonly shas = new Map<string, string>();
  /** This gateway in the bucket's reservation (src/budget/lease-script.ts). */
  private readonly clientId = randomBytes(8).toString('hex');
  readonly describe: string;

  constructor(options: RedisStoreOptions) {
    this.key = options.key;
    const url = new URL(options.url);
    this.describe = `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs ?? 200,
      connectTimeout: 1000,
      retryStrategy: (times) => Math.min(200 * times, 1000),
      connectionName: 'image-spool-budget',
    });
    // Errors reach the caller through the failed command; without a listener ioredis prints each one.
    this.redis.on('error', () => undefined);
  }

  async connect(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.redis.connect(), timeout]);
    } catch (err) {
      throw unavailable(this.describe, err);
    } finally {
      clearTimeout(timer);
    }
  }

  async lease(r: LeaseRequest): Promise<LeaseReply> {
    const reply = await this.run(LEASE_LUA, [r.want, r.min, r.leaseMs, r.burstMs, encodeRate(r.scheduleRate), this.clientId]) as [number, string, number, string];
    return { granted: Number(reply[0]), rate: decodeRate(reply[1]), waitMs: Number(reply[2]), override: reply[3] === '' ? null : reply[3] };
  }

  async sync(schedule: { rate: BytesPerSecond; text: string }, last: { rate: BytesPerSecond; text: string } | null): Promise<SyncReply> {
    const reply = await this.run(SYNC_LUA, [encodeRate(schedule.rate), schedule.text, last ? encodeRate(last.rate) : '', last?.text ?? '']) as [string, string];
    return { override: reply[0] === '' ? null : reply[0], otherSchedule: reply[1] === '' ? null : reply[1] };
  }

  async setOverride(override: { rate: BytesPerSecond; text: string } | null): Promise<void> {
    await this.run(OVERRIDE_LUA, override ? [encodeRate(override.rate), override.text] : []);
  }

  async close(): Promise<void> {
    // quit() waits for Redis; a dead Redis must not hold up shutdown.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect();
  }

  /** EVALSHA, and EVAL once when Redis does not know the script (first use, or after a restart). */
  private async run(script: string, args: Array<string | number>): Promise<unknown> {
    let sha = this.shas.get(script);
    if (sha === undefined) {
      sha = createHash('sha1').update(script).digest('hex');
      this.shas.set(script, sha);
    }
    try {
      return await this.redis.evalsha(sha, 1, this.key, ...args);
    } catch (err) {
      if (errorMessage(err).startsWith('NOSCRIPT')) {
        try {
          return await this.redis.eval(script, 1, this.key, ...args);
        } catch (again) {
          throw unavailable(this.describe, again);
        }
      }
      throw unavailable(this.describe, err);
    }
  }
}

function unavailable(where: string, cause: unknown): SpoolError {
  return new SpoolError('budget_unavailable', `the shared upload budget (Redis at ${where}) is unreachable: ${errorMessage(cause)}`, { cause });
}
