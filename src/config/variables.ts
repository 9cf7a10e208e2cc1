import { UPLOAD_ORDERS } from '../ledger/types.js';
import type { FormatPolicy } from '../meta/format-policy.js';
import {
  addresses, autoOrInt, bool, bytes, bytesBetween, directory, httpUrl, imageFormats, int, keyPrefix, notifySocket, oneOf, partSize,
  percentOrOff, redisKey, redisUrl, schedule, secret, shareOf, text, type Parser,
} from './parsers.js';

/**
 * Every environment variable the service and the CLI read, declared once: name, default, parser and what it
 * does. loadConfig (src/config.ts) reads nothing else, and `npm run docs:config` writes docs/CONFIG.md and
 * the README's settings table from this list, so the page and the code cannot disagree.
 */
export interface Variable<T> {
  readonly group: GroupId;
  readonly parser: Parser<T>;
  /** What an unset variable means, written as an operator would set it (parsed like a set value); null: undefined. */
  readonly default: string | null;
  /** How the docs show the default; the default text itself unless given. */
  readonly shownDefault: string;
  /** What it does: its first sentence is the README's summary for a `common` variable, unless `summary` is set. */
  readonly doc: string;
  readonly summary: string | undefined;
  /** One of the settings most sites touch: listed in the README too. */
  readonly common: boolean;
}

export const GROUPS = {
  service: { title: 'Service', intro: 'Where it listens, where it keeps its files, and what it logs.' },
  s3: {
    title: 'S3 target',
    intro: 'Without `S3_BUCKET` an embedded S3-compatible server runs instead, for trying the service out. '
      + 'Credentials come from the AWS SDK\'s standard chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, a profile, an instance role).',
  },
  budget: { title: 'Upload budget', intro: 'How fast uploads may go, and how several gateways share one cap ([SHAPING.md](SHAPING.md), [SCALING.md](SCALING.md)).' },
  upload: { title: 'Uploads', intro: 'How the backlog goes to S3: order, concurrency, retries, multipart.' },
  ingest: { title: 'Ingest', intro: 'What devices may send, and how many at once ([OPERATIONS.md](OPERATIONS.md#busy-and-slow-devices)).' },
  spool: { title: 'Spool disk', intro: 'Limits on the spool\'s disk and how image files are written ([OPERATIONS.md](OPERATIONS.md#disk-full)).' },
  ledger: { title: 'Ledger', intro: 'The SQLite ledger beside other processes that open it ([OPERATIONS.md](OPERATIONS.md#reading-the-backlog)).' },
  metadata: { title: 'Metadata', intro: 'EXIF and size extraction, done after the ack on worker threads.' },
  access: { title: 'Access', intro: 'Who may read what ([README](../README.md#who-can-read-what)), and where the CLI finds the service.' },
  notify: { title: 'Outcome webhook', intro: 'A POST per image outcome (`uploaded`, `dead`), signed with HMAC-SHA256 ([API.md](API.md#outcome-webhook)).' },
  systemd: { title: 'Set by systemd', intro: 'Set by systemd for a `Type=notify` unit (`deploy/image-spool.service`), not by operators; checked all the same.' },
  bench: {
    title: 'Benchmarks only',
    intro: '**Never in production**: with these an ack no longer means the image is durable. Honoured only with '
      + '`NODE_ENV=benchmark`; either one without it stops startup. When on, the service logs an `ALERT` and `/readyz` answers 503.',
  },
} as const;

export type GroupId = keyof typeof GROUPS;

interface Extra {
  readonly common?: boolean;
  readonly summary?: string;
  readonly shownDefault?: string;
}

function setting<T>(group: GroupId, defaultText: string, parser: Parser<T>, doc: string, extra: Extra = {}): Variable<T> {
  return { group, parser, default: defaultText, shownDefault: extra.shownDefault ?? defaultText, doc, summary: extra.summary, common: extra.common ?? false };
}

function optional<T>(group: GroupId, parser: Parser<T>, shownDefault: string, doc: string, extra: Extra = {}): Variable<T | undefined> {
  return { group, parser, default: null, shownDefault, doc, summary: extra.summary, common: extra.common ?? false };
}

export const SPOOL_FULL_POLICIES = ['reject', 'evict-oldest'] as const;
export type SpoolFullPolicy = (typeof SPOOL_FULL_POLICIES)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export const VARIABLES = {
  PORT: setting('service', '4000', int(0, 65535), 'The TCP port devices connect to.', { common: true }),
  HOST: setting('service', '0.0.0.0', text, 'The address to listen on.'),
  SPOOL_DIR: setting('service', './spool', directory,
    'Image files (`images/`), the ledger (`ledger.db`), `admin.token` and `read-link.key`: put it on the big disk.', { common: true }),
  LOG_LEVEL: setting('service', 'info', oneOf(LOG_LEVELS),
    'pino JSON logs on stdout: one `request` line per HTTP request (with `req_id`, the caller\'s `X-Request-Id` or a UUID), '
    + 'one line per upload outcome; never a token, secret or link secret.'),

  S3_BUCKET: optional('s3', text, 'none (embedded S3)',
    'The bucket. Unset: an embedded S3-compatible server on `127.0.0.1:LOCAL_S3_PORT`, bucket `images`, data in `$SPOOL_DIR/local-s3`, '
    + 'with a warning in the log; for trying the service out only.',
    { common: true, summary: 'The bucket. Unset: an embedded S3 server for trying it out (objects in `$SPOOL_DIR/local-s3`).' }),
  S3_ENDPOINT: optional('s3', text, 'AWS, by region', 'The S3 endpoint URL of a non-AWS server (MinIO, Ceph RGW, ...).', { common: true }),
  S3_REGION: setting('s3', 'us-east-1', text, 'The bucket\'s region. A wrong one pauses uploads; `/readyz` and the log name the region S3 asks for.', { common: true }),
  S3_PREFIX: setting('s3', '', keyPrefix, 'Prepended to every key: `{S3_PREFIX}{device_id}/{YYYY}/{MM}/{DD}/{id}.{ext}`.', { shownDefault: 'empty' }),
  S3_FORCE_PATH_STYLE: optional('s3', bool, 'true when `S3_ENDPOINT` is set', 'Path-style bucket addressing (`endpoint/bucket/key`).'),
  LOCAL_S3_PORT: setting('s3', '4568', int(1, 65535), 'The embedded S3 server\'s port (only without `S3_BUCKET`).'),

  UPLOAD_BWLIMIT: setting('budget', '100Mbit', schedule,
    'The upload budget, never exceeded. A rate in `kbit`, `Mbit`, `Gbit` (bits/s) or `B`, `KB`, `MB`, `GB`, `KiB`, `MiB`, `GiB` (bytes/s; '
    + 'units required), `off`, or an rclone-style timetable in local time (`TZ` honoured): entries without a weekday repeat daily, '
    + 'and the latest entry at or before now applies.',
    { common: true, summary: 'The upload budget, never exceeded: `100Mbit`, `5MB`, `off`, or a timetable `"08:00,40Mbit 18:00,100Mbit"`.' }),
  UPLOAD_BURST_MS: setting('budget', '5', int(1, 1000), 'The largest burst the budget allows, in milliseconds of the rate.'),
  UPLINK_SHARE: setting('budget', 'off', percentOrOff,
    'E.g. `50%`: the budget becomes min(`UPLOAD_BWLIMIT`, share x the uplink\'s estimated capacity), for links whose speed varies; '
    + 'probing costs ~3% of the budget ([SHAPING.md](SHAPING.md)). Refused with `BUDGET_BACKEND=redis`.'),
  BUDGET_BACKEND: setting('budget', 'local', oneOf(['local', 'redis'] as const),
    '`local`: this gateway\'s budget is its own. `redis`: several gateways keep one `UPLOAD_BWLIMIT` together through a bucket in Redis; '
    + 'needs `REDIS_URL` and `GATEWAY_COUNT`.'),
  REDIS_URL: optional('budget', redisUrl, 'none', 'With `BUDGET_BACKEND=redis`: the Redis server. Commands time out after 200 ms.'),
  GATEWAY_COUNT: optional('budget', int(1, 1000), 'none',
    'With `BUDGET_BACKEND=redis`: the gateways sharing the cap. While Redis is unreachable each uploads at cap / `GATEWAY_COUNT`.'),
  BUDGET_REDIS_KEY: setting('budget', 'image-spool:budget', redisKey, 'The Redis hash holding the shared bucket and the override: one per site (one cap).'),

  UPLOAD_CONCURRENCY: setting('upload', 'auto', autoOrInt(1, 256),
    'Uploads in flight, sharing the one budget. `auto`: `3 x rate x dead time / image size + 2` (4 to 64), the dead time '
    + '(request setup and S3\'s answer) measured on every upload.'),
  UPLOAD_ORDER: setting('upload', 'oldest', oneOf(UPLOAD_ORDERS),
    '`oldest` (FIFO), `newest` (freshest first while an old backlog drains) or `fair` (round-robin across devices).', { common: true }),
  UPLOAD_STALL_TIMEOUT_MS: setting('upload', '30000', int(100, 3_600_000),
    'An upload without progress this long while not waiting for budget is aborted and retried (there is no fixed request timeout).'),
  MAX_ATTEMPTS: setting('upload', '10', int(1, 1_000_000),
    'S3 refusals of one image (4xx) before it is `dead`. Network errors, 5xx and throttling are retried forever; '
    + 'systemic failures (credentials, bucket, clock, unreachable) pause the uploader and spend nothing.'),
  RETRY_BASE_MS: setting('upload', '1000', int(1, 3_600_000), 'First retry delay: exponential backoff with full jitter.'),
  RETRY_MAX_MS: setting('upload', '300000', int(1, 86_400_000), 'Longest retry delay.'),
  UPLOAD_PART_SIZE: setting('upload', '8MiB', partSize,
    'Images larger than this go up as multipart uploads in parts of this size, resumed with `ListParts` after a crash.'),
  KEEP_UPLOADED_FILES: setting('upload', 'false', bool, 'Keep the local copy after a confirmed upload (it counts toward the spool limits).'),
  SHUTDOWN_GRACE_MS: setting('upload', '5000', int(0, 600_000), 'On SIGTERM, how long uploads in flight may finish before they are re-queued.'),

  MAX_IMAGE_BYTES: setting('ingest', '50000000', int(1, 5_000_000_000), 'Larger images get `413 image_too_large`, by `Content-Length` before reading when declared.'),
  IMAGE_FORMATS: optional<FormatPolicy>('ingest', imageFormats, 'every format listed',
    'Images accepted, by their first bytes (never the client\'s Content-Type); others get `415 not_an_image`. `any`: any bytes, '
    + 'stored and uploaded as `application/octet-stream` (`.bin`). Metadata comes from JPEG, PNG, WebP, GIF, TIFF and HEIC.'),
  MAX_CONCURRENT_UPLOADS: setting('ingest', '256', int(1, 100_000), 'Device uploads received at once; beyond it `503 too_busy` with `Retry-After: 1`.'),
  MAX_UPLOADS_PER_ADDRESS: setting('ingest', '75%', shareOf('MAX_CONCURRENT_UPLOADS'),
    'Uploads one client address (IPv6: one /64) may have in progress. With every slot taken, an address under its fair share still '
    + 'gets in: the slowest upload of the address holding the most gives up its slot (`503 too_busy`). Cameras alone behind one NAT: `100%`.'),
  TRUSTED_PROXIES: setting('ingest', '', addresses,
    'Reverse proxies (`10.0.0.5, 10.0.1.0/24`) whose `X-Forwarded-For` names the client; without it every device behind nginx is one address.',
    { shownDefault: 'none' }),
  INGEST_READ_SLOTS: setting('ingest', '16', int(1, 100_000),
    'Request bodies read at once; the rest wait unread in the kernel\'s socket buffers, so memory does not grow with the number of senders. '
    + 'A body slower than 64 KiB per 100 ms gives its slot to others and carries on.'),
  INGEST_HEADERS_TIMEOUT_MS: setting('ingest', '10000', int(100, 600_000), 'A connection that has not sent its request headers by then is closed (408).'),
  INGEST_BODY_TIMEOUT_MS: setting('ingest', '30000', int(100, 600_000),
    'Every window of this length must bring `INGEST_MIN_BODY_RATE` of body, or `408 request_timeout` and the connection closes.'),
  INGEST_MIN_BODY_RATE: setting('ingest', '1KB', bytes, 'The least body bytes per second in every `INGEST_BODY_TIMEOUT_MS` window.'),
  INGEST_BODY_MAX_MS: setting('ingest', '300000', int(1000, 3_600_000),
    'A body with a `Content-Length` must be able to finish within this at its pace so far (judged from its fifth second), '
    + 'or `408 request_timeout`: a 4 MB photo must average 13 KB/s.'),

  SPOOL_MAX_BYTES: setting('spool', 'unlimited', bytes, 'Image bytes the spool may hold: queued, uploading and dead images count.'),
  SPOOL_MIN_FREE_BYTES: setting('spool', '1GiB', bytes, 'Free space (statfs) that must remain on the spool\'s filesystem after an ingest.', { common: true }),
  SPOOL_FULL_POLICY: setting('spool', 'reject', oneOf(SPOOL_FULL_POLICIES),
    'At either limit: `reject` answers `507 disk_full` with `Retry-After`; `evict-oldest` deletes the oldest queued images '
    + '(state `evicted`, a warning each) to admit the new one.',
    { common: true, summary: 'At either spool limit: `reject` (507 with `Retry-After`) or `evict-oldest` (drop the oldest queued images).' }),
  SPOOL_DIRECT_IO: setting('spool', 'auto', oneOf(['auto', 'off'] as const),
    '`auto`: image files from 256 KiB are written with `O_DIRECT`, bypassing the page cache, where the filesystem takes it (probed at start). '
    + '`off`: through the page cache. Every file is fsynced before its ack either way.'),

  LEDGER_LOCK_WAIT_MS: setting('ledger', '500', int(0, 60_000),
    'How long an ingest\'s commit waits, on timers, while another process holds the ledger\'s write lock, before `503 ledger_busy`.'),
  LEDGER_WAL_MAX_BYTES: setting('ledger', '64MiB', bytesBetween(2 ** 20, 2 ** 40, '64MiB'),
    'The WAL is checkpointed back to empty above this once no reader pins it; while a reader pins it, a warning a minute names the reader.'),

  METADATA_THREADS: setting('metadata', '1', int(1, 16), 'Worker threads that parse image metadata, never on the event loop.'),
  METADATA_TIMEOUT_MS: setting('metadata', '2000', int(50, 600_000),
    'An image still parsing after this (or over its thread\'s 32 MB heap) gets `metadata_state: failed`, is not tried again, '
    + 'and its thread is replaced.'),

  ADMIN_TOKEN: optional('access', text, 'generated',
    'Bearer token for `/admin/*`, image reads and `/full/`. Unset: generated on first start into `$SPOOL_DIR/admin.token` (0600).'),
  DEVICE_AUTH: setting('access', 'off', oneOf(['off', 'token'] as const),
    '`off`: devices send no credential. `token`: `POST /image` needs a device token (`image-spool tokens add DEVICE_ID`), '
    + 'which names the device.',
    { common: true, summary: '`off`: devices send no credential. `token`: each device its own token (`image-spool tokens add ID`).' }),
  IMAGE_READ: setting('access', 'credential', oneOf(['credential', 'open'] as const),
    '`credential`: image bytes and metadata need the admin token, a signed read link or the device\'s own token. '
    + '`open` (with `DEVICE_AUTH=off`): anyone with an id reads them; logged as a warning at start.'),
  METRICS_AUTH: setting('access', 'off', oneOf(['off', 'admin'] as const), '`off`: `GET /metrics` is open (numbers only). `admin`: it needs the admin token.'),
  STATUS_PAGE: setting('access', 'on', bool,
    '`on`: `GET /` serves the read-only status page (ids shortened, no camera data) and `/full/` the whole of it behind the admin token. '
    + '`off`: neither exists.'),
  IMAGE_SPOOL_URL: optional('access', text, '`http://127.0.0.1:$PORT`',
    'Where the CLI finds the service: this, else `PORT` when set, else the address the service wrote into `SPOOL_DIR`, else port 4000.'),

  NOTIFY_URL: optional('notify', httpUrl, 'none (off)', 'POSTed when an image is `uploaded` or `dead`, at least once per receipt.'),
  NOTIFY_SECRET: optional('notify', secret(16), 'none', 'Required with `NOTIFY_URL`: the HMAC-SHA256 key of `X-Image-Spool-Signature`.'),
  NOTIFY_MAX_ATTEMPTS: setting('notify', '10', int(1, 1_000_000), 'Attempts before a notification is `failed`, with the last error kept.'),
  NOTIFY_RETRY_BASE_MS: setting('notify', '1000', int(1, 3_600_000), 'First retry delay: exponential backoff with full jitter.'),
  NOTIFY_RETRY_MAX_MS: setting('notify', '300000', int(1, 86_400_000), 'Longest retry delay.'),
  NOTIFY_KEEP_HOURS: setting('notify', '72', int(1, 87_600), 'Delivered and failed notification rows are deleted after this long; pending ones never.'),

  NOTIFY_SOCKET: optional('systemd', notifySocket, 'unset',
    'Where `READY=1`, `WATCHDOG=1`, `STOPPING=1` and `STATUS=` go. Unset: nothing is sent.'),
  WATCHDOG_USEC: optional('systemd', int(1, MAX_SAFE), 'unset',
    '`WatchdogSec=` in µs: `WATCHDOG=1` every half of it, only while the event loop, the ledger and the spool are healthy.'),
  WATCHDOG_PID: optional('systemd', int(1, 2 ** 22), 'unset', 'The process the watchdog is meant for.'),

  NODE_ENV: optional('bench', text, 'unset', '`benchmark` allows the two switches below; no other value changes anything.'),
  BENCH_UNSAFE_NO_FSYNC: setting('bench', 'false', bool, '`true` skips every fsync (image, directory, ledger WAL) and the page-cache bypass.'),
  BENCH_COMMIT_BATCH_MAX: setting('bench', String(MAX_SAFE), int(1, MAX_SAFE),
    'Rows per ledger transaction; `1` turns group commit off (one transaction and WAL fsync per image).', { shownDefault: 'no limit' }),
} as const;

export type VariableName = keyof typeof VARIABLES;
export type ValueOf<V> = V extends Variable<infer T> ? T : never;
export type Values = { readonly [K in VariableName]: ValueOf<(typeof VARIABLES)[K]> };
