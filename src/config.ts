import path from 'node:path';
import { readServiceUrl } from './admin/service-file.js';
import { describe, readVariables, type Env, type ReadVariables } from './config/read.js';
import type { Share } from './config/parsers.js';
import type { SpoolFullPolicy } from './config/variables.js';
import { SpoolError } from './errors.js';
import type { UploadOrder } from './ledger/types.js';
import { DEFAULT_FORMAT_POLICY, type FormatPolicy } from './meta/format-policy.js';
import type { Schedule } from './throttle/schedule.js';

export type { SpoolFullPolicy };

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

export interface S3Settings {
  readonly bucket: string;
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  /** Explicit credentials are used only for the embedded server; real S3 uses the SDK's default chain. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
}

export const LOCAL_S3_BUCKET = 'images';

export const BENCHMARK_NODE_ENV = 'benchmark';

/**
 * The configuration from the environment: every variable of src/config/variables.ts parsed, then the
 * settings that combine several checked together. Every problem is collected and reported at once, as one
 * `config_invalid` listing each bad variable (`invalid NAME="value": why`).
 */
export function loadConfig(env: Env = process.env): Config {
  const read = readVariables(env);
  const problems = [...read.problems];
  const v = read.values;
  const spoolDir = v.SPOOL_DIR;
  const localS3 = v.S3_BUCKET === undefined ? { port: v.LOCAL_S3_PORT, dataDir: path.join(spoolDir, 'local-s3') } : null;
  const s3: S3Settings = {
    bucket: v.S3_BUCKET ?? LOCAL_S3_BUCKET,
    endpoint: localS3 ? `http://127.0.0.1:${localS3.port}` : v.S3_ENDPOINT,
    region: v.S3_REGION,
    prefix: v.S3_PREFIX,
    forcePathStyle: localS3 ? true : v.S3_FORCE_PATH_STYLE ?? v.S3_ENDPOINT !== undefined,
    credentials: localS3 ? { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } : undefined,
  };
  const config: Config = {
    port: v.PORT,
    serviceUrl: v.IMAGE_SPOOL_URL ?? (read.isSet('PORT') ? null : readServiceUrl(spoolDir)) ?? `http://127.0.0.1:${v.PORT}`,
    host: v.HOST,
    spoolDir,
    logLevel: v.LOG_LEVEL,
    s3,
    localS3,
    uploadSchedule: v.UPLOAD_BWLIMIT,
    adminToken: v.ADMIN_TOKEN,
    uploadBurstMs: v.UPLOAD_BURST_MS,
    uploadConcurrency: v.UPLOAD_CONCURRENCY,
    uplinkShare: v.UPLINK_SHARE,
    uploadOrder: v.UPLOAD_ORDER,
    uploadStallTimeoutMs: v.UPLOAD_STALL_TIMEOUT_MS,
    maxAttempts: v.MAX_ATTEMPTS,
    retryBaseMs: v.RETRY_BASE_MS,
    retryMaxMs: v.RETRY_MAX_MS,
    maxImageBytes: v.MAX_IMAGE_BYTES,
    imageFormats: v.IMAGE_FORMATS ?? DEFAULT_FORMAT_POLICY,
    keepUploadedFiles: v.KEEP_UPLOADED_FILES,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    spoolMaxBytes: v.SPOOL_MAX_BYTES,
    spoolMinFreeBytes: v.SPOOL_MIN_FREE_BYTES,
    spoolFullPolicy: v.SPOOL_FULL_POLICY,
    spoolDirectIo: v.SPOOL_DIRECT_IO,
    maxConcurrentIngests: v.MAX_CONCURRENT_UPLOADS,
    maxIngestsPerAddress: perAddress(read, problems),
    trustedProxies: v.TRUSTED_PROXIES,
    ingestReadSlots: v.INGEST_READ_SLOTS,
    deviceAuth: v.DEVICE_AUTH,
    uploadPartSize: v.UPLOAD_PART_SIZE,
    ingestHeadersTimeoutMs: v.INGEST_HEADERS_TIMEOUT_MS,
    ingestBodyWindowMs: v.INGEST_BODY_TIMEOUT_MS,
    ingestMinBodyRate: v.INGEST_MIN_BODY_RATE,
    metadataThreads: v.METADATA_THREADS,
    metadataTimeoutMs: v.METADATA_TIMEOUT_MS,
    ledgerLockWaitMs: v.LEDGER_LOCK_WAIT_MS,
    ledgerWalMaxBytes: v.LEDGER_WAL_MAX_BYTES,
    ingestBodyMaxMs: v.INGEST_BODY_MAX_MS,
    notify: notifySettings(read, problems),
    notifyKeepHours: v.NOTIFY_KEEP_HOURS,
    metricsAuth: v.METRICS_AUTH,
    statusPage: v.STATUS_PAGE,
    imageRead: v.IMAGE_READ,
    systemd: { notifySocket: v.NOTIFY_SOCKET ?? null, watchdogUsec: v.WATCHDOG_USEC ?? null, watchdogPid: v.WATCHDOG_PID ?? null },
    budget: budgetSettings(read, problems),
    benchmark: benchmarkSwitches(read, problems),
  };
  if (problems.length > 0) throw configInvalid(problems);
  return Object.freeze(config);
}

function configInvalid(problems: readonly string[]): SpoolError {
  const message = problems.length === 1 ? problems[0] as string : `${problems.length} settings are invalid:\n  ${problems.join('\n  ')}`;
  return new SpoolError('config_invalid', message);
}

/** MAX_UPLOADS_PER_ADDRESS as a count: a share of MAX_CONCURRENT_UPLOADS rounded up, or a count from 1 to it. */
function perAddress(read: ReadVariables, problems: string[]): number {
  const total = read.values.MAX_CONCURRENT_UPLOADS;
  const share: Share = read.values.MAX_UPLOADS_PER_ADDRESS;
  if ('percent' in share) return Math.max(1, Math.ceil((total * share.percent) / 100));
  const isCount = Number.isSafeInteger(share.count) && share.count >= 1;
  const inRange = isCount && share.count <= total;
  // A count against a MAX_CONCURRENT_UPLOADS that failed to read is not judged: that setting's problem is reported.
  if (!inRange && !(isCount && read.failed.has('MAX_CONCURRENT_UPLOADS'))) {
    // The default is a percentage, so a count was set: raw is there.
    problems.push(describe('MAX_UPLOADS_PER_ADDRESS', read.raw('MAX_UPLOADS_PER_ADDRESS') ?? null,
      `expected a percentage of MAX_CONCURRENT_UPLOADS such as "75%", or a count from 1 to MAX_CONCURRENT_UPLOADS (${total})`));
  }
  return inRange ? share.count : total;
}

function budgetSettings(read: ReadVariables, problems: string[]): BudgetSettings {
  const v = read.values;
  if (v.BUDGET_BACKEND === 'local') return { backend: 'local' };
  if (v.REDIS_URL === undefined && !read.failed.has('REDIS_URL')) {
    problems.push('REDIS_URL is required with BUDGET_BACKEND=redis (e.g. redis://10.0.0.5:6379)');
  }
  if (v.GATEWAY_COUNT === undefined && !read.failed.has('GATEWAY_COUNT')) {
    problems.push('GATEWAY_COUNT is required with BUDGET_BACKEND=redis: the number of gateways sharing the cap (without Redis each uploads at cap / GATEWAY_COUNT)');
  }
  if (v.UPLINK_SHARE !== null) {
    problems.push('UPLINK_SHARE is not supported with BUDGET_BACKEND=redis: each gateway would estimate the shared uplink on its own; set UPLINK_SHARE=off or BUDGET_BACKEND=local');
  }
  return { backend: 'redis', redisUrl: v.REDIS_URL ?? '', gatewayCount: v.GATEWAY_COUNT ?? 1, key: v.BUDGET_REDIS_KEY };
}

/**
 * BENCH_* take effect only together with NODE_ENV=benchmark, a value no deployment sets; one without the
 * other stops startup. So a BENCH_ line left in /etc/image-spool/env, or NODE_ENV=benchmark copied from a
 * bench script, refuses to start instead of silently acknowledging images that are not yet durable.
 */
function benchmarkSwitches(read: ReadVariables, problems: string[]): BenchmarkSwitches | null {
  const set = (['BENCH_UNSAFE_NO_FSYNC', 'BENCH_COMMIT_BATCH_MAX'] as const).filter((name) => read.isSet(name));
  if (set.length > 0 && read.values.NODE_ENV !== BENCHMARK_NODE_ENV) {
    const many = set.length > 1;
    problems.push(`${set.join(' and ')} ${many ? 'are' : 'is a'} benchmark-only switch${many ? 'es' : ''}, refused unless NODE_ENV=${BENCHMARK_NODE_ENV}: remove ${many ? 'them' : 'it'} from the environment`);
  }
  if (set.length === 0) return null;
  return { noFsync: read.values.BENCH_UNSAFE_NO_FSYNC, commitBatchMax: read.values.BENCH_COMMIT_BATCH_MAX };
}

function notifySettings(read: ReadVariables, problems: string[]): NotifySettings | null {
  const v = read.values;
  if (v.NOTIFY_URL === undefined) return null;
  if (v.NOTIFY_SECRET === undefined && !read.failed.has('NOTIFY_SECRET')) {
    problems.push('NOTIFY_SECRET is required when NOTIFY_URL is set (at least 16 characters)');
  }
  return {
    url: v.NOTIFY_URL, secret: v.NOTIFY_SECRET ?? '', maxAttempts: v.NOTIFY_MAX_ATTEMPTS, retryBaseMs: v.NOTIFY_RETRY_BASE_MS, retryMaxMs: v.NOTIFY_RETRY_MAX_MS,
  };
}
