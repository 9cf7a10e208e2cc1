import { readServiceUrl } from './admin/service-file.js';
import { isIP } from 'node:net';
import path from 'node:path';
import { parseSchedule, ScheduleParseError, type Schedule } from './throttle/schedule.js';
import { SpoolError } from './errors.js';
import { UPLOAD_ORDERS, type UploadOrder } from './ledger/types.js';
import { ANY_BYTES_POLICY, DEFAULT_FORMAT_POLICY, type FormatPolicy } from './meta/format-policy.js';
import { IMAGE_FORMAT_NAMES, type ImageFormatName } from './meta/sniff.js';

/** The only reader of process.env. Everything downstream receives this frozen object. */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly spoolDir: string;
  readonly logLevel: string;
  readonly s3: S3Settings;
  /** Set when no S3_BUCKET is configured: an embedded S3-compatible server is started instead. */
  readonly localS3: { readonly port: number; readonly dataDir: string } | null;
  /** UPLOAD_BWLIMIT: one rate or an rclone-style timetable. */
  readonly uploadSchedule: Schedule;
  /** True when UPLOAD_BWLIMIT is unset (the schedule is the built-in default). */
  readonly uploadScheduleIsDefault: boolean;
  /** ADMIN_TOKEN; when unset a token is generated into $SPOOL_DIR/admin.token. */
  readonly adminToken: string | undefined;
  /**
   * Where the CLI finds the running service's admin API: IMAGE_SPOOL_URL (or `--url`), else PORT when set,
   * else the address the service wrote into SPOOL_DIR at start (`--spool`), else port 4000 on loopback.
   */
  readonly serviceUrl: string;
  /** Largest burst the shared bucket allows, in milliseconds of the current rate. */
  readonly uploadBurstMs: number;
  /** A fixed number, or 'auto': chosen from rate x dead time / image size (src/uploader/concurrency.ts). */
  readonly uploadConcurrency: number | 'auto';
  /** UPLINK_SHARE as a fraction in (0, 1], or null when off: cap the budget at this share of the estimated uplink. */
  readonly uplinkShare: number | null;
  readonly uploadOrder: UploadOrder;
  readonly uploadStallTimeoutMs: number;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly maxImageBytes: number;
  /** IMAGE_FORMATS: the image formats accepted at ingest (by magic bytes), or any bytes at all. */
  readonly imageFormats: FormatPolicy;
  readonly keepUploadedFiles: boolean;
  readonly shutdownGraceMs: number;
  /** SPOOL_MAX_BYTES: image bytes the spool may hold (Infinity = no limit). */
  readonly spoolMaxBytes: number;
  /** SPOOL_MIN_FREE_BYTES: free space (statfs) that must remain on the spool's filesystem after an ingest. */
  readonly spoolMinFreeBytes: number;
  readonly spoolFullPolicy: SpoolFullPolicy;
  /** SPOOL_DIRECT_IO: `auto` writes images with O_DIRECT where the filesystem takes it; `off` uses the page cache. */
  readonly spoolDirectIo: 'auto' | 'off';
  /** MAX_CONCURRENT_UPLOADS: device uploads in progress at once; beyond it, 503 + Retry-After. */
  readonly maxConcurrentIngests: number;
  /** MAX_UPLOADS_PER_ADDRESS, as a count: uploads one client address may have in progress (src/http/client-slots.ts). */
  readonly maxIngestsPerAddress: number;
  /** TRUSTED_PROXIES: addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client. */
  readonly trustedProxies: readonly string[];
  /** INGEST_READ_SLOTS: request bodies read at the same time; the others wait unread (src/http/body-gate.ts). */
  readonly ingestReadSlots: number;
  /** DEVICE_AUTH: `off` (the seed devices send no credential) or `token` (each device its own bearer token). */
  readonly deviceAuth: 'off' | 'token';
  /** UPLOAD_PART_SIZE: images above it are uploaded as multipart in parts of this size (S3 needs >= 5 MiB). */
  readonly uploadPartSize: number;
  /** Slow or idle clients: header deadline; body pace (at least minRate bytes/s in every window). */
  readonly ingestHeadersTimeoutMs: number;
  readonly ingestBodyWindowMs: number;
  readonly ingestMinBodyRate: number;
  /** METADATA_THREADS: worker threads that parse images' metadata (src/meta/metadata-pool.ts). */
  readonly metadataThreads: number;
  /** METADATA_TIMEOUT_MS: an image still being parsed after this long is marked `failed` and its thread replaced. */
  readonly metadataTimeoutMs: number;
  /** LEDGER_LOCK_WAIT_MS: how long an ingest waits (on timers) for another process's write lock on the ledger before 503 ledger_busy. */
  readonly ledgerLockWaitMs: number;
  /** LEDGER_WAL_MAX_BYTES: the WAL is checkpointed back under this size (TRUNCATE, journal_size_limit); above it a pinning reader is warned about. */
  readonly ledgerWalMaxBytes: number;
  /** INGEST_BODY_MAX_MS: a body with a Content-Length that cannot finish within this at its pace so far is cut (408). */
  readonly ingestBodyMaxMs: number;
  /** NOTIFY_*: the outcome webhook (src/notify/); null when NOTIFY_URL is unset. */
  readonly notify: NotifySettings | null;
  /** NOTIFY_KEEP_HOURS: delivered and failed webhook rows are deleted after this long (pending ones never). */
  readonly notifyKeepHours: number;
  /** METRICS_AUTH: GET /metrics is open (`off`, as Prometheus scrapes on a LAN) or needs the admin token (`admin`). */
  readonly metricsAuth: 'off' | 'admin';
  /** STATUS_PAGE: serve the read-only status page (`GET /`, `GET /status.json`); without a credential it shows no full image id and no metadata. */
  readonly statusPage: boolean;
  /**
   * IMAGE_READ: `credential` (image bytes and metadata need the admin token, the device's own token or a
   * signed read link) or `open` (no credential with DEVICE_AUTH=off, as before the setting existed).
   */
  readonly imageRead: 'credential' | 'open';
  /** BUDGET_BACKEND: this gateway's own upload budget, or one shared by several gateways through Redis. */
  readonly budget: BudgetSettings;
  /** What systemd sets for a Type=notify unit (src/systemd/); all null when not run by systemd. */
  readonly systemd: SystemdSettings;
  /** BENCH_*: switches for bench/ only; null in any real deployment (see benchmarkSwitches). */
  readonly benchmark: BenchmarkSwitches | null;
}

/**
 * What bench/ switches off to measure what a safeguard costs. Never for production: an ack then no longer
 * means the image survives a power cut.
 */
export interface BenchmarkSwitches {
  /** BENCH_UNSAFE_NO_FSYNC: skip every fsync (image file, spool directory, ledger WAL) and write images through the page cache. */
  readonly noFsync: boolean;
  /** BENCH_COMMIT_BATCH_MAX: rows per ledger transaction; 1 = no group commit (one transaction and WAL fsync per ingest). */
  readonly commitBatchMax: number;
}

export interface SystemdSettings {
  /** NOTIFY_SOCKET: where READY=1, WATCHDOG=1, STOPPING=1 and STATUS= go (a path, or `@` for an abstract socket). */
  readonly notifySocket: string | null;
  /** WATCHDOG_USEC: WatchdogSec= in microseconds; a ping must reach systemd within it. */
  readonly watchdogUsec: number | null;
  /** WATCHDOG_PID: the process the watchdog is meant for; another process must not ping for it. */
  readonly watchdogPid: number | null;
}

export type BudgetSettings =
  | { readonly backend: 'local' }
  | {
    readonly backend: 'redis';
    /** REDIS_URL: redis:// or rediss://, credentials allowed (never logged). */
    readonly redisUrl: string;
    /** GATEWAY_COUNT: gateways sharing the cap; without Redis each uses cap / this. */
    readonly gatewayCount: number;
    /** BUDGET_REDIS_KEY: the hash holding the bucket and the override (one per site). */
    readonly key: string;
  };

export interface NotifySettings {
  /** NOTIFY_URL: an http(s) URL POSTed on `uploaded` and `dead`. */
  readonly url: string;
  /** NOTIFY_SECRET: the HMAC-SHA256 key of X-Image-Spool-Signature (at least 16 characters). */
  readonly secret: string;
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
}

export const SPOOL_FULL_POLICIES = ['reject', 'evict-oldest'] as const;
export type SpoolFullPolicy = (typeof SPOOL_FULL_POLICIES)[number];

export interface S3Settings {
  readonly bucket: string;
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  /** Explicit credentials are used only for the embedded server; real S3 uses the SDK's default chain. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

export const LOCAL_S3_BUCKET = 'images';

export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);
  const spoolDir = path.resolve(r.string('SPOOL_DIR', './spool'));
  const bucket = r.optional('S3_BUCKET');
  const endpoint = r.optional('S3_ENDPOINT');
  const localPort = r.int('LOCAL_S3_PORT', 4568, 1, 65535);
  // Read every variable even when unused here, so a typo fails startup instead of waiting for the day it matters.
  const forcePathStyle = r.bool('S3_FORCE_PATH_STYLE', endpoint !== undefined);
  const localS3 = bucket === undefined ? { port: localPort, dataDir: path.join(spoolDir, 'local-s3') } : null;
  const s3: S3Settings = {
    bucket: bucket ?? LOCAL_S3_BUCKET,
    endpoint: localS3 ? `http://127.0.0.1:${localS3.port}` : endpoint,
    region: r.string('S3_REGION', 'us-east-1'),
    prefix: r.prefix('S3_PREFIX'),
    forcePathStyle: localS3 ? true : forcePathStyle,
    credentials: localS3 ? { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } : undefined,
  };
  const port = r.int('PORT', 4000, 0, 65535);
  const maxConcurrentIngests = r.int('MAX_CONCURRENT_UPLOADS', 256, 1, 100_000);
  const config: Config = {
    port,
    serviceUrl: r.optional('IMAGE_SPOOL_URL')
      ?? (r.optional('PORT') === undefined ? readServiceUrl(spoolDir) : null) ?? `http://127.0.0.1:${port}`,
    host: r.string('HOST', '0.0.0.0'),
    spoolDir,
    logLevel: r.oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    s3,
    localS3,
    uploadSchedule: r.schedule('UPLOAD_BWLIMIT', '100Mbit'),
    uploadScheduleIsDefault: r.optional('UPLOAD_BWLIMIT') === undefined,
    adminToken: r.optional('ADMIN_TOKEN'),
    uploadBurstMs: r.int('UPLOAD_BURST_MS', 5, 1, 1000),
    uploadConcurrency: r.autoOrInt('UPLOAD_CONCURRENCY', 1, 256),
    uplinkShare: r.percent('UPLINK_SHARE'),
    uploadOrder: r.oneOf('UPLOAD_ORDER', 'oldest', UPLOAD_ORDERS),
    uploadStallTimeoutMs: r.int('UPLOAD_STALL_TIMEOUT_MS', 30_000, 100, 3_600_000),
    maxAttempts: r.int('MAX_ATTEMPTS', 10, 1, 1_000_000),
    retryBaseMs: r.int('RETRY_BASE_MS', 1000, 1, 3_600_000),
    retryMaxMs: r.int('RETRY_MAX_MS', 300_000, 1, 86_400_000),
    maxImageBytes: r.int('MAX_IMAGE_BYTES', 50_000_000, 1, 5_000_000_000),
    imageFormats: r.imageFormats('IMAGE_FORMATS'),
    keepUploadedFiles: r.bool('KEEP_UPLOADED_FILES', false),
    shutdownGraceMs: r.int('SHUTDOWN_GRACE_MS', 5000, 0, 600_000),
    spoolMaxBytes: r.bytes('SPOOL_MAX_BYTES', Infinity),
    spoolMinFreeBytes: r.bytes('SPOOL_MIN_FREE_BYTES', 2 ** 30),
    spoolFullPolicy: r.oneOf('SPOOL_FULL_POLICY', 'reject', SPOOL_FULL_POLICIES),
    spoolDirectIo: r.oneOf('SPOOL_DIRECT_IO', 'auto', ['auto', 'off'] as const),
    maxConcurrentIngests,
    maxIngestsPerAddress: r.shareOf('MAX_UPLOADS_PER_ADDRESS', '75%', maxConcurrentIngests, 'MAX_CONCURRENT_UPLOADS'),
    trustedProxies: r.addresses('TRUSTED_PROXIES'),
    ingestReadSlots: r.int('INGEST_READ_SLOTS', 16, 1, 100_000),
    deviceAuth: r.oneOf('DEVICE_AUTH', 'off', ['off', 'token'] as const),
    uploadPartSize: r.partSize('UPLOAD_PART_SIZE', 8 * 2 ** 20),
    ingestHeadersTimeoutMs: r.int('INGEST_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    ingestBodyWindowMs: r.int('INGEST_BODY_TIMEOUT_MS', 30_000, 100, 600_000),
    ingestMinBodyRate: r.bytes('INGEST_MIN_BODY_RATE', 1000),
    metadataThreads: r.int('METADATA_THREADS', 1, 1, 16),
    metadataTimeoutMs: r.int('METADATA_TIMEOUT_MS', 2000, 50, 600_000),
    ledgerLockWaitMs: r.int('LEDGER_LOCK_WAIT_MS', 500, 0, 60_000),
    ledgerWalMaxBytes: r.bytesBetween('LEDGER_WAL_MAX_BYTES', 64 * 2 ** 20, 2 ** 20, 2 ** 40),
    ingestBodyMaxMs: r.int('INGEST_BODY_MAX_MS', 300_000, 1000, 3_600_000),
    notify: notifySettings(r),
    notifyKeepHours: r.int('NOTIFY_KEEP_HOURS', 72, 1, 87_600),
    metricsAuth: r.oneOf('METRICS_AUTH', 'off', ['off', 'admin'] as const),
    statusPage: r.bool('STATUS_PAGE', true),
    imageRead: r.oneOf('IMAGE_READ', 'credential', ['credential', 'open'] as const),
    systemd: systemdSettings(r),
    budget: budgetSettings(r),
    benchmark: benchmarkSwitches(r),
  };
  return Object.freeze(config);
}

/** Every variable is read and checked even with the local budget, so a typo fails startup. */
function budgetSettings(r: EnvReader): BudgetSettings {
  const backend = r.oneOf('BUDGET_BACKEND', 'local', ['local', 'redis'] as const);
  const redisUrl = r.redisUrl('REDIS_URL');
  const gatewayCount = r.optional('GATEWAY_COUNT') === undefined ? undefined : r.int('GATEWAY_COUNT', 1, 1, 1000);
  const key = r.string('BUDGET_REDIS_KEY', 'image-spool:budget');
  if (!/^[A-Za-z0-9:._{}-]{1,200}$/.test(key)) throw invalid('BUDGET_REDIS_KEY', key, 'expected 1-200 characters of A-Z a-z 0-9 : . _ - { }');
  if (backend === 'local') return { backend };
  if (redisUrl === undefined) throw new SpoolError('config_invalid', 'REDIS_URL is required with BUDGET_BACKEND=redis (e.g. redis://10.0.0.5:6379)');
  if (gatewayCount === undefined) {
    throw new SpoolError('config_invalid', 'GATEWAY_COUNT is required with BUDGET_BACKEND=redis: the number of gateways sharing the cap (without Redis each uploads at cap / GATEWAY_COUNT)');
  }
  if (r.optional('UPLINK_SHARE') !== undefined && r.optional('UPLINK_SHARE')?.toLowerCase() !== 'off') {
    throw new SpoolError('config_invalid', 'UPLINK_SHARE is not supported with BUDGET_BACKEND=redis: each gateway would estimate the shared uplink on its own; set UPLINK_SHARE=off or BUDGET_BACKEND=local');
  }
  return { backend, redisUrl, gatewayCount, key };
}

export const BENCHMARK_NODE_ENV = 'benchmark';

/**
 * BENCH_* take effect only together with NODE_ENV=benchmark, a value no deployment sets; one without the
 * other stops startup. So a BENCH_ line left in /etc/image-spool/env, or NODE_ENV=benchmark copied from a
 * bench script, refuses to start instead of silently acknowledging images that are not yet durable.
 */
function benchmarkSwitches(r: EnvReader): BenchmarkSwitches | null {
  const set = ['BENCH_UNSAFE_NO_FSYNC', 'BENCH_COMMIT_BATCH_MAX'].filter((name) => r.optional(name) !== undefined);
  const benchmarkEnv = r.optional('NODE_ENV') === BENCHMARK_NODE_ENV;
  if (set.length > 0 && !benchmarkEnv) {
    throw new SpoolError('config_invalid',
      `${set.join(' and ')} ${set.length > 1 ? 'are' : 'is a'} benchmark-only switch${set.length > 1 ? 'es' : ''}, refused unless NODE_ENV=${BENCHMARK_NODE_ENV}: remove ${set.length > 1 ? 'them' : 'it'} from the environment`);
  }
  if (set.length === 0) return null;
  return {
    noFsync: r.bool('BENCH_UNSAFE_NO_FSYNC', false),
    commitBatchMax: r.int('BENCH_COMMIT_BATCH_MAX', Number.MAX_SAFE_INTEGER, 1, Number.MAX_SAFE_INTEGER),
  };
}

/** Every NOTIFY_* variable is read and checked even without NOTIFY_URL, so a typo fails startup. */
function notifySettings(r: EnvReader): NotifySettings | null {
  const url = r.httpUrl('NOTIFY_URL');
  const secret = r.secret('NOTIFY_SECRET', 16);
  const maxAttempts = r.int('NOTIFY_MAX_ATTEMPTS', 10, 1, 1_000_000);
  const retryBaseMs = r.int('NOTIFY_RETRY_BASE_MS', 1000, 1, 3_600_000);
  const retryMaxMs = r.int('NOTIFY_RETRY_MAX_MS', 300_000, 1, 86_400_000);
  if (url === undefined) return null;
  if (secret === undefined) throw new SpoolError('config_invalid', 'NOTIFY_SECRET is required when NOTIFY_URL is set (at least 16 characters)');
  return { url, secret, maxAttempts, retryBaseMs, retryMaxMs };
}

/** Set by systemd, not by operators; checked all the same, so a broken unit fails at start with the variable named. */
function systemdSettings(r: EnvReader): SystemdSettings {
  const notifySocket = r.optional('NOTIFY_SOCKET') ?? null;
  if (notifySocket !== null && !/^[/@]/.test(notifySocket)) {
    throw invalid('NOTIFY_SOCKET', notifySocket, 'expected an absolute socket path or an abstract socket name starting with @');
  }
  const watchdogUsec = r.optional('WATCHDOG_USEC') === undefined ? null : r.int('WATCHDOG_USEC', 0, 1, Number.MAX_SAFE_INTEGER);
  const watchdogPid = r.optional('WATCHDOG_PID') === undefined ? null : r.int('WATCHDOG_PID', 0, 1, 2 ** 22);
  return { notifySocket, watchdogUsec, watchdogPid };
}

class EnvReader {
  constructor(private readonly env: Env) {}

  optional(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  string(name: string, fallback: string): string {
    return this.optional(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const value = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw invalid(name, raw, `expected an integer from ${min} to ${max}`);
    }
    return value;
  }

  /** A size: plain bytes, or with a unit (KB, MB, GB, TB = 10^3.., KiB, MiB, GiB, TiB = 2^10..); "unlimited" = Infinity. */
  bytes(name: string, fallback: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (raw.toLowerCase() === 'unlimited') return Infinity;
    const match = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B)?$/i.exec(raw);
    const units: Record<string, number> = { kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
    const value = match ? Math.round(Number(match[1]) * (match[2] ? (units[match[2].toLowerCase()] ?? NaN) : 1)) : NaN;
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(name, raw, 'expected a size such as 500GB, 1GiB or 1073741824, or "unlimited"');
    return value;
  }

  /** A size within bounds ("unlimited" refused). */
  bytesBetween(name: string, fallback: number, min: number, max: number): number {
    const value = this.bytes(name, fallback);
    if (!(value >= min && value <= max)) throw invalid(name, this.optional(name) ?? String(value), `expected a size from ${min} to ${max} bytes, such as 64MiB`);
    return value;
  }

  /** A multipart part size: S3 refuses parts under 5 MiB (except the last) and uploads over 10,000 parts. */
  partSize(name: string, fallback: number): number {
    const value = this.bytes(name, fallback);
    if (!(value >= 5 * 2 ** 20 && value <= 5 * 2 ** 30)) throw invalid(name, this.optional(name) ?? String(value), 'expected a size from 5MiB to 5GiB');
    return value;
  }

  /** Unset: every recognised format; `any`: any bytes; else a comma-separated list such as "jpeg,png,heic". */
  imageFormats(name: string): FormatPolicy {
    const raw = this.optional(name);
    if (raw === undefined) return DEFAULT_FORMAT_POLICY;
    if (raw.toLowerCase() === 'any') return ANY_BYTES_POLICY;
    const names = raw.toLowerCase().split(',').map((n) => n.trim());
    const known = new Set<string>(IMAGE_FORMAT_NAMES);
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length > 0 || names.length === 0) {
      const what = `${unknown.map((n) => JSON.stringify(n)).join(', ')} ${unknown.length > 1 ? 'are not formats' : 'is not a format'}`;
      throw invalid(name, raw, `${what}: expected "any" or a comma-separated list of ${IMAGE_FORMAT_NAMES.join(', ')}`);
    }
    return Object.freeze({ accepted: new Set(names as ImageFormatName[]), anyBytes: false });
  }

  /** Unset or "auto" -> 'auto'; else an integer in range. */
  autoOrInt(name: string, min: number, max: number): number | 'auto' {
    const raw = this.optional(name);
    if (raw === undefined || raw === 'auto') return 'auto';
    if (!/^\d+$/.test(raw)) throw invalid(name, raw, `expected "auto" or an integer from ${min} to ${max}`);
    return this.int(name, min, min, max);
  }

  /**
   * A part of `total`: a percentage ("75%" of it, rounded up) or a count from 1 to `total` (a larger count
   * is an error naming both variables).
   */
  shareOf(name: string, fallback: string, total: number, totalName: string): number {
    const raw = this.string(name, fallback);
    const percent = /^(\d+(?:\.\d+)?)%$/.exec(raw);
    if (percent) {
      const p = Number(percent[1]);
      if (!(p > 0 && p <= 100)) throw invalid(name, raw, 'expected a percentage above 0% and up to 100%, or a count');
      return Math.max(1, Math.ceil((total * p) / 100));
    }
    const count = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(Number.isSafeInteger(count) && count >= 1 && count <= total)) {
      throw invalid(name, raw, `expected a percentage of ${totalName} such as "75%", or a count from 1 to ${totalName} (${total})`);
    }
    return count;
  }

  /** A comma-separated list of IP addresses or CIDR ranges ("10.0.0.5, 10.0.1.0/24, fd00::/8"); empty when unset. */
  addresses(name: string): string[] {
    const raw = this.optional(name);
    if (raw === undefined) return [];
    const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      if (family === 0 || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits))) {
        throw invalid(name, raw, `${JSON.stringify(entry)} is not an IP address or CIDR range; expected e.g. "10.0.0.5, 10.0.1.0/24, fd00::/8"`);
      }
    }
    return entries;
  }

  /** "50%" -> 0.5; unset or "off" -> null. */
  percent(name: string): number | null {
    const raw = this.optional(name);
    if (raw === undefined || raw.toLowerCase() === 'off') return null;
    const match = /^(\d+(?:\.\d+)?)%$/.exec(raw);
    const value = match ? Number(match[1]) : NaN;
    if (!(value > 0 && value <= 100)) throw invalid(name, raw, 'expected a percentage above 0% and up to 100%, such as "50%", or "off"');
    return value / 100;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    throw invalid(name, raw, 'expected true or false');
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) throw invalid(name, raw, `expected one of ${allowed.join(', ')}`);
    return raw as T;
  }

  schedule(name: string, fallback: string): Schedule {
    const raw = this.string(name, fallback);
    try {
      return parseSchedule(raw);
    } catch (err) {
      if (err instanceof ScheduleParseError) throw invalid(name, raw, err.message);
      throw err;
    }
  }

  /** An absolute http:// or https:// URL, or undefined when unset. */
  httpUrl(name: string): string | undefined {
    return this.url(name, ['http:', 'https:'], 'an http:// or https:// URL such as "https://example.com/hooks/image-spool"');
  }

  /** A redis:// or rediss:// URL, or undefined when unset; the error never shows a password. */
  redisUrl(name: string): string | undefined {
    return this.url(name, ['redis:', 'rediss:'], 'a redis:// or rediss:// URL such as "redis://10.0.0.5:6379" or "rediss://:password@redis.site:6380/0"');
  }

  private url(name: string, protocols: readonly string[], expected: string): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    let url: URL | null = null;
    try {
      url = new URL(raw);
    } catch {
      // reported below
    }
    if (url === null || !protocols.includes(url.protocol) || url.hostname === '') {
      const shown = url && url.password ? raw.replace(`:${url.password}@`, ':***@') : raw;
      throw invalid(name, shown, `expected ${expected}`);
    }
    return url.href;
  }

  /** A secret of at least `minLength` characters; the error never shows the value. */
  secret(name: string, minLength: number): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    if (raw.length < minLength) {
      throw new SpoolError('config_invalid', `invalid ${name}: expected at least ${minLength} characters, got ${raw.length} (the value is not shown)`);
    }
    return raw;
  }

  /** An S3 key prefix: no leading slash, and a trailing slash added so keys read as folders. */
  prefix(name: string): string {
    const raw = this.optional(name);
    if (raw === undefined) return '';
    if (raw.startsWith('/') || raw.includes('//') || /[\x00-\x1f\\]/.test(raw)) {
      throw invalid(name, raw, 'expected a relative key prefix such as "site-a/cameras/"');
    }
    return raw.endsWith('/') ? raw : `${raw}/`;
  }
}

function invalid(name: string, value: string, reason: string): SpoolError {
  return new SpoolError('config_invalid', `invalid ${name}=${JSON.stringify(value)}: ${reason}`);
}
