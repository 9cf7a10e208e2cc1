import type { AddressInfo } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import path from 'node:path';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { GetObjectCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { getRequestListener } from '@hono/node-server';
import type { Config } from './config.js';
import { IoThread } from './background/io-thread.js';
import { createApp } from './http/app.js';
import { ledgerWritable } from './http/health.js';
import { BodyGate } from './http/body-gate.js';
import { boundUnreadBody, continueOnFirstRead } from './http/early-answer.js';
import { ClientSlots } from './http/client-slots.js';
import { clientKeys } from './http/client-address.js';
import { GroupCommitter } from './ledger/group-commit.js';
import { ImageLedger } from './ledger/images.js';
import { MultipartLedger } from './ledger/multipart.js';
import { MetadataPool } from './meta/metadata-pool.js';
import { metadataRoute } from './meta/metadata-route.js';
import type { InsertResult, NewImage } from './ledger/types.js';
import { MetadataWorker } from './meta/metadata-worker.js';
import { DeviceTokens } from './devices/tokens.js';
import { SpoolError } from './errors.js';
import { migrate } from './ledger/migrate.js';
import { stopWaitingForLocks } from './ledger/busy.js';
import { openLedger, withoutFsync } from './ledger/open.js';
import { WalWatch } from './ledger/wal-watch.js';
import { WalSync } from './ledger/wal-sync.js';
import { createNotifications } from './notify/notifier.js';
import type { Logger } from './log.js';
import { createServiceMetrics } from './metrics/registry.js';
import { createS3Client } from './s3/client.js';
import type { LocalS3 } from './s3/local-server.js';
import { Admission, SpoolUsage } from './spool/admission.js';
import { FreeSpace } from './spool/free-space.js';
import { evictOldest } from './spool/evict.js';
import { spoolFault } from './spool/health.js';
import { recoverSpool } from './spool/recovery.js';
import { StagingPool } from './spool/staging.js';
import { SpoolStore } from './spool/store.js';
import { mkdirDurable } from './spool/dir-sync.js';
import { serviceStatus } from './admin/status.js';
import { startSystemdLink } from './systemd/lifecycle.js';
import { statusLine } from './systemd/status-line.js';
import { loadAdminToken } from './admin/token.js';
import { localUrl, removeServiceFile, SERVICE_FILE, writeServiceFile } from './admin/service-file.js';
import { packageVersion } from './version.js';
import { loadReadLinks } from './read-links/read-links.js';
import { LinkLedger } from './links/ledger.js';
import { UploadLinks } from './links/links.js';
import { SettingsStore } from './ledger/settings.js';
import { BandwidthController } from './throttle/bandwidth-controller.js';
import { EgressMeter } from './throttle/egress-meter.js';
import { createSharedBudget } from './budget/create.js';
import { registerBudgetMetrics } from './metrics/budget-metrics.js';
import { registerLedgerMetrics } from './metrics/ledger-metrics.js';
import { TokenBucket } from './throttle/token-bucket.js';
import { UplinkEstimator } from './throttle/uplink-estimator.js';
import { createStatusPage } from './status/status-page.js';
import { AutoConcurrency, fixedConcurrency } from './uploader/concurrency.js';
import { Uploader } from './uploader/uploader.js';

/**
 * The embedded target (s3rver and its ~100 packages) is loaded only when no S3_BUCKET is set: a gateway with
 * a real bucket never holds it in memory, and an install without optional dependencies still runs.
 */
async function loadLocalS3(): Promise<typeof import('./s3/local-server.js')> {
  try {
    return await import('./s3/local-server.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new SpoolError('config_invalid', 'S3_BUCKET is not set and the embedded S3 target (the optional dependency s3rver) is not installed: set S3_BUCKET (and S3_ENDPOINT), or `npm install s3rver` to try image-spool locally', { cause: err });
  }
}

export interface RunningService {
  port: number;
  store: SpoolStore;
  uploader: Uploader;
  throttle: TokenBucket;
  bandwidth: BandwidthController;
  ledger: ImageLedger;
  /** First call drains (stop accepting, finish ingests, stop uploads); resolves when everything is closed. */
  stop(): Promise<void>;
}

/** DEVICE_AUTH=token: `Authorization: Bearer <device token>` proves the device, or the upload gets 401 unread. */
function deviceAuthenticator(tokens: DeviceTokens): (authorization: string | undefined) => string {
  return (authorization) => {
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    const device = token ? tokens.deviceFor(token) : null;
    if (device === null) {
      throw new SpoolError('unauthorized', 'DEVICE_AUTH=token: send Authorization: Bearer <device token> (see `image-spool tokens add`)',
        { headers: { 'WWW-Authenticate': 'Bearer realm="image-spool devices"', Connection: 'close' } });
    }
    return device;
  };
}

const CLIENT_ERROR_STATUS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'request_headers_too_large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'request_timeout'],
};

function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, log: Logger): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Garbage after a request that is still being handled (e.g. a body longer than its Content-Length):
  // let that request answer (and clean up) first, then close. `_httpMessage` is Node's own link from the
  // socket to the response in progress; its default handler consults it too.
  const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (current && !current.writableFinished) {
    if (current.req.complete) {
      log.warn({ parse_error: err.code ?? err.message }, 'bytes after a request could not be parsed; closing once it is answered');
      current.once('close', () => socket.destroy());
    } else {
      socket.destroy(); // the request itself is cut short: its handler sees the close and cleans up
    }
    return;
  }
  const [status, reason, code] = CLIENT_ERROR_STATUS[err.code ?? ''] ?? [400, 'Bad Request', 'invalid_request'];
  const body = JSON.stringify({ error: { code, message: `malformed HTTP request (${err.code ?? err.message})` } });
  log.warn({ code, status, parse_error: err.code ?? err.message }, 'request failed before routing');
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** A body bringing under 64 KiB in 100 ms (~5 Mbit/s) while the service could take more is slow: it gives up its read slot. */
const SLOW_BODY = { checkMs: 100, minBytes: 64 * 1024 };

/** Composition root: config -> ledger -> recovery -> HTTP + uploader. */
export async function startService(config: Config, log: Logger): Promise<RunningService> {
  await mkdirDurable(config.spoolDir, 0o700);
  const unsafeNoFsync = config.benchmark?.noFsync === true;
  if (config.benchmark) log.error({ alert: 'benchmark_mode', benchmark: config.benchmark }, 'ALERT benchmark switches are on (NODE_ENV=benchmark): never run this in production');
  const ledgerFile = path.join(config.spoolDir, 'ledger.db');
  const db = openLedger(ledgerFile, { unsafeNoSync: unsafeNoFsync, walLimitBytes: config.ledgerWalMaxBytes });
  const { applied, version } = migrate(db);
  log.info({ schema_version: version, applied }, 'ledger ready');
  // Ingest commits skip SQLite's own WAL fsync, which would stop the event loop for its length, and wait for
  // this one on the thread pool (src/ledger/wal-sync.ts). Without it (no fsyncs at all, or the bench's naive
  // one-fsync-per-ingest baseline) a commit is as durable as it will be when it returns.
  const walSync = unsafeNoFsync || config.benchmark?.commitBatchMax === 1 ? null : new WalSync(`${ledgerFile}-wal`);
  const durable = walSync ? (): Promise<void> => walSync.sync() : undefined;
  const ingestsDurable = walSync ? (): Promise<void> => walSync.caughtUp() : undefined;
  // WAL checkpoints and file hashes off the event loop (src/background/io-thread.ts).
  // O_DIRECT staging blocks, shared with the I/O thread, which hashes them in place (src/spool/direct-sink.ts).
  // BENCH_UNSAFE_NO_FSYNC measures the service at its fastest without durability: the page cache, no syncs.
  const staging = config.spoolDirectIo === 'off' || unsafeNoFsync ? null : new StagingPool();
  const walWatch = new WalWatch({ dbFile: ledgerFile, limitBytes: config.ledgerWalMaxBytes, log });
  const ioThread = new IoThread(log, {
    checkpoint: { db, file: ledgerFile, truncateAboveBytes: config.ledgerWalMaxBytes, onPass: (pass) => walWatch.onPass(pass) },
    staging,
  });
  const ledger = new ImageLedger(db);
  const notifications = createNotifications({ settings: config.notify, keepHours: config.notifyKeepHours, db, images: ledger, log, durable: ingestsDurable });
  const store = new SpoolStore(config.spoolDir, config.maxImageBytes, { fsync: !unsafeNoFsync, hasher: ioThread, staging, formats: config.imageFormats });
  const writeMode = await store.init();
  if (writeMode.direct) log.info({ spool_writes: 'O_DIRECT' }, 'spool writes bypass the page cache (O_DIRECT)');
  else log.warn({ spool_writes: 'page cache', reason: writeMode.reason }, `spool writes go through the page cache: ${writeMode.reason}`);
  await recoverSpool({ ledger, spoolDir: config.spoolDir, imagesDir: store.imagesDir, keepUploadedFiles: config.keepUploadedFiles, log });
  // Startup may wait for another process's lock (nothing else waits on the event loop yet); serving never does.
  stopWaitingForLocks(db);

  const localS3: LocalS3 | null = config.localS3
    ? await (await loadLocalS3()).startLocalS3({ ...config.localS3, bucket: config.s3.bucket, log })
    : null;
  const s3Settings = localS3 ? { ...config.s3, endpoint: `http://127.0.0.1:${localS3.port}` } : config.s3;
  const concurrency = config.uploadConcurrency === 'auto' ? new AutoConcurrency() : fixedConcurrency(config.uploadConcurrency);
  const client = createS3Client(s3Settings, concurrency.max * 2);
  const budget = createSharedBudget(config, log);
  const throttle = new TokenBucket({ rate: Infinity, burstMs: config.uploadBurstMs, gate: budget ?? undefined });
  await budget?.start(); // at most ~1 s; without Redis it starts in its local fallback
  const estimator = config.uplinkShare === null ? null : new UplinkEstimator({ share: config.uplinkShare });
  const bandwidth = new BandwidthController(throttle, config.uploadSchedule, new SettingsStore(db), log, estimator, undefined, budget);
  bandwidth.start(); // sets the bucket's rate before any upload starts
  const egress = new EgressMeter(() => throttle.granted);
  egress.start();
  const adminToken = await loadAdminToken(config.adminToken, config.spoolDir, log);
  const readLinks = await loadReadLinks(config.spoolDir, log);
  if (config.imageRead === 'open') {
    log.warn({ image_read: 'open', device_auth: config.deviceAuth },
      config.deviceAuth === 'off'
        ? 'IMAGE_READ=open: anyone who reaches the port and knows an image id can read its bytes and metadata (camera, GPS)'
        : 'IMAGE_READ=open: has no effect with DEVICE_AUTH=token (image reads still need a device or admin token)');
  }
  const uploader = new Uploader({
    ledger, store, client, throttle, log,
    bucket: config.s3.bucket,
    concurrency,
    link: bandwidth,
    order: config.uploadOrder,
    stallTimeoutMs: config.uploadStallTimeoutMs,
    maxAttempts: config.maxAttempts,
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: config.retryMaxMs,
    keepUploadedFiles: config.keepUploadedFiles,
    probe: () => client.send(new HeadBucketCommand({ Bucket: config.s3.bucket })),
    partSize: config.uploadPartSize,
    multipart: new MultipartLedger(db),
    durable: ingestsDurable,
  });

  bandwidth.onRateChange(() => uploader.notify());
  const statusPage = config.statusPage ? createStatusPage({ db, bandwidth, schedule: config.uploadSchedule, throttle, uploader }) : null;

  const metadata = new MetadataWorker(ledger, store, log, new MetadataPool({ log, threads: config.metadataThreads, timeoutMs: config.metadataTimeoutMs }));
  const usage = new SpoolUsage(() => ledger.localBytes(config.keepUploadedFiles));
  const freeSpace = new FreeSpace(store.imagesDir, { stored: () => usage.storedBytes, unrecorded: () => usage.unrecordedBytes });
  const freeBytes = (): Promise<number> => freeSpace.measured();
  const admission = new Admission({
    maxBytes: config.spoolMaxBytes,
    minFreeBytes: config.spoolMinFreeBytes,
    policy: config.spoolFullPolicy,
    maxConcurrent: config.maxConcurrentIngests,
    usage,
    freeBytes: (fresh) => freeSpace.bytes(fresh),
    evictOldest: (bytes) => evictOldest(ledger, store, bytes, log),
    contents: () => {
      const t = ledger.stateTotals();
      return { queued: t.queued.bytes, uploading: t.uploading.bytes, dead: t.dead.bytes, uploaded: config.keepUploadedFiles ? t.uploaded.bytes : 0 };
    },
    drainRate: () => bandwidth.effectiveRate(),
    log,
  });

  let draining = false;
  const inFlight = new Set<Promise<unknown>>();
  const metrics = createServiceMetrics({
    stateTotals: () => ledger.stateTotals(),
    oldestWaitingAt: () => ledger.oldestWaitingAt(),
    rate: () => bandwidth.effectiveRate(),
    configuredRate: () => bandwidth.configuredRate(),
    egressBytes: () => throttle.granted,
    freeBytes,
    storedBytes: () => usage.storedBytes,
    uploadsInFlight: () => uploader.active,
    ingestsInFlight: () => admission.active,
    pausedReason: () => uploader.paused?.reason ?? null,
  }, { requireAdmin: config.metricsAuth === 'admin' });
  metrics.events.watchUploader(uploader);
  metrics.events.watchMetadata(metadata);
  const backfill = metadata.start();
  if (backfill.interrupted > 0) log.warn({ images: backfill.interrupted }, 'metadata extractions the last run left unfinished are marked failed, not tried again');
  if (backfill.pending > 0) log.info({ images: backfill.pending }, 'extracting metadata left over from the last run');
  registerBudgetMetrics(metrics.registry, budget);
  registerLedgerMetrics(metrics.registry, { walBytes: () => walWatch.walBytes(), walPinned: () => walWatch.pinned, ledgerFile });
  const insertMany = (rows: readonly NewImage[]): InsertResult[] => {
    const results = walSync ? withoutFsync(db, () => ledger.insertMany(rows)) : ledger.insertMany(rows);
    // In the same turn as the commit: from now on the ledger counts these bytes, so their reservations end.
    admission.landed(rows.filter((_, i) => results[i]?.kind !== 'needs_file').map((r) => r.id));
    return results;
  };
  const committer = new GroupCommitter(insertMany, { onCommit: metrics.events.ledgerCommit, maxBatch: config.benchmark?.commitBatchMax, durable, lockWaitMs: config.ledgerLockWaitMs });
  const links = new UploadLinks(new LinkLedger(db, ledger));
  const app = createApp({
    db, ledger, log, store, committer, bandwidth, adminToken, admission, links, statusPage, readLinks,
    openImageReads: config.imageRead === 'open',
    metrics: metrics.routes,
    status: serviceStatus({ ledger, bandwidth, egress, config, wal: walWatch }),
    readObject: async (key, range) => {
      const res = await client.send(new GetObjectCommand({ Bucket: config.s3.bucket, Key: key, Range: range ? `bytes=${range.start}-${range.end}` : undefined }));
      return res.Body as Readable;
    },
    readiness: {
      ledgerFile,
      walSyncFailed: () => walSync?.failed ?? null,
      spoolProblem: async () => {
        if (unsafeNoFsync) return 'BENCH_UNSAFE_NO_FSYNC: acknowledged images are not durable (benchmark only)';
        const fault = await spoolFault(store);
        if (fault !== null) return fault;
        const over = await admission.overshoot();
        return over > 0 ? `spool full: ${Math.ceil(over / 1e6)} MB over SPOOL_MAX_BYTES or SPOOL_MIN_FREE_BYTES` : null;
      },
      uploaderProblem: () => uploader.paused?.reason ?? null,
      ...(budget ? { budgetMode: () => budget.mode } : {}),
    },
    s3Prefix: config.s3.prefix,
    maxImageBytes: config.maxImageBytes,
    authenticateDevice: config.deviceAuth === 'token' ? deviceAuthenticator(new DeviceTokens(db)) : null,
    bodyPace: { windowMs: config.ingestBodyWindowMs, minBytesPerSec: config.ingestMinBodyRate, maxBodyMs: config.ingestBodyMaxMs, onBytes: metrics.events.bodyBytes },
    clientSlots: new ClientSlots({ total: config.maxConcurrentIngests, perClient: config.maxIngestsPerAddress }),
    clientOf: clientKeys(config.trustedProxies),
    isDraining: () => draining,
    bodyGate: new BodyGate({ slots: config.ingestReadSlots, ...SLOW_BODY }),
    onQueued: () => uploader.notify(),
    onStored: metadataRoute({ enqueue: (id, relPath, format) => metadata.enqueue(id, relPath, format), record: (id, meta, at) => ledger.setMetadata(id, meta, at), log }),
    track: (work) => {
      inFlight.add(work);
      const forget = (): void => { inFlight.delete(work); };
      work.then(forget, forget);
      return work;
    },
  });
  // Node checks header and request deadlines on this interval (30 s by default, too coarse for a 10 s limit).
  // Bodies left unread by an early answer are drained (bounded) by early-answer.ts, not by the adapter's 500 ms cut-off.
  const listener = getRequestListener(app.fetch, { autoCleanupIncoming: false });
  const server = createServer({ connectionsCheckingInterval: Math.min(1000, config.ingestHeadersTimeoutMs / 2) }, (req, res) => {
    boundUnreadBody(req, res);
    void listener(req, res);
  });
  // Expect: 100-continue is answered when the body is first read, so a refusal goes out before the body is sent.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    continueOnFirstRead(req, res);
    server.emit('request', req, res);
  });
  // Slow devices on a busy LAN: give a 4 MB body time, but do not let idle or trickling sockets pile up:
  // headers must arrive within INGEST_HEADERS_TIMEOUT_MS, the body keeps a minimum pace (multipart.ts), 10 min overall.
  server.headersTimeout = config.ingestHeadersTimeoutMs;
  // Requests Node cannot parse never reach the app: answer them as JSON too, and log them.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => answerClientError(err, socket, log));
  server.requestTimeout = 10 * 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  await writeServiceFile(config.spoolDir, { url: localUrl(config.host, port), pid: process.pid, version: packageVersion(), started_at: new Date().toISOString() })
    .catch((err: unknown) => log.warn({ err }, `could not write ${SERVICE_FILE}: the CLI needs --url or PORT to find this service`));
  statusPage?.start(); // before the uploader, so no upload error is missed
  uploader.start();
  notifications.start();
  log.info({ version: packageVersion(), node: process.version, host: config.host, port, bucket: config.s3.bucket, endpoint: s3Settings.endpoint ?? 'aws', bwlimit: bandwidth.state().rate, budget: budget ? `${budget.mode} (redis, ${budget.gatewayCount} gateways)` : 'local', concurrency: concurrency.describe(), uplink_share: config.uplinkShare, ...(config.benchmark ? { benchmark: config.benchmark } : {}) }, 'image-spool listening');
  // READY=1 only now: recovery is done and the port takes connections. Then the watchdog's ticks.
  const systemd = startSystemdLink({
    settings: config.systemd,
    log,
    checks: {
      // Another process's lock is not the service's fault, and a restart would not end it: keep pinging.
      ledger: () => { const check = ledgerWritable(db, walSync?.failed ?? null); return check.ok || check.locked ? null : check.message; },
      spool: () => spoolFault(store),
    },
    status: () => statusLine(ledger.summary(), bandwidth.effectiveRate()),
    listening: `${config.host}:${port}`,
  });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      draining = true;
      const toldSystemd = systemd.stopping();
      log.info({ in_flight_ingests: inFlight.size, active_uploads: uploader.active }, 'draining: refusing new images, finishing in-flight work');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await Promise.allSettled([...inFlight]);
      await removeServiceFile(config.spoolDir).catch(() => undefined);
      await uploader.stop(config.shutdownGraceMs);
      await notifications.stop(); // POSTs in flight are aborted and stay pending for the next start
      await metadata.stop();
      statusPage?.stop();
      bandwidth.stop();
      egress.stop();
      await budget?.stop();
      server.closeAllConnections();
      await closed;
      client.destroy();
      await localS3?.close();
      await ioThread.close();
      await walSync?.close();
      db.close();
      await toldSystemd;
      log.info('stopped');
    })();
    return stopping;
  };
  return { port, store, uploader, throttle, bandwidth, ledger, stop };
}
