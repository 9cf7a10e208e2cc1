import type { IncomingMessage } from 'node:http';
import { SpoolError } from '../errors.js';

/**
 * Slow-client guard: within every `windowMs` of the body, at least `minBytesPerSec x window` must arrive;
 * and a body that declared its length must be able to finish within `maxBodyMs` at its pace so far.
 */
export interface BodyPace {
  windowMs: number;
  minBytesPerSec: number;
  /** INGEST_BODY_MAX_MS; absent = no projection. */
  maxBodyMs?: number;
  /** Hears every body byte the endpoint reads, those discarded after a refusal included (a metric). */
  onBytes?: (bytes: number) => void;
}

/** A body being read, as the ingest slot scheduler sees it (src/http/client-slots.ts). */
export interface ReadingBody {
  /** Refuses the upload now with `err` (its reader answers it and cleans up). */
  cut(err: SpoolError): void;
  /** Body bytes per second since reading began, counting only time the service was ready for more. */
  bytesPerSec(): number;
}

const reading = new WeakMap<IncomingMessage, ReadingBody>();

/** The body of `req` while it is being read under a pace guard, else undefined. */
export function readingBody(req: IncomingMessage): ReadingBody | undefined {
  return reading.get(req);
}

/** How often a body's projected finish is checked, and how much of its time passes before the first check. */
const PROJECTION_CHECK_MS = 1000;
const PROJECTION_GRACE_MS = 5000;

/**
 * A device that stops sending, or trickles, must not hold an ingest slot and a half-written file for
 * long: 500 such connections would otherwise starve real devices of MAX_CONCURRENT_UPLOADS. Calls
 * `tooSlow` with a 408 (the connection closes after the answer). Returns the function that stops the guard.
 *
 * Two checks. Every window must bring a minimum (a body that stalls). And, when the request declared its
 * length, the body must be able to finish within `maxBodyMs` at the pace it has kept so far: 256 uploads
 * sending 1.2 KB/s each pass the minimum for ever, but a 4 MB body at that pace needs an hour, so it is
 * cut after the first few seconds instead of holding its slot (issue 18). Time the service itself held the
 * body back (stream backpressure) does not count against it.
 */
export function guardBodyPace(req: IncomingMessage, pace: BodyPace, tooSlow: (err: SpoolError) => void): () => void {
  const minBytes = Math.max(1, (pace.minBytesPerSec * pace.windowMs) / 1000);
  let inWindow = 0;
  let received = 0;
  const count = (chunk: Buffer): void => {
    inWindow += chunk.length;
    received += chunk.length;
  };
  req.on('data', count);
  // Not removed by the returned stop: a refused body is still read (and discarded) to its end.
  const report = pace.onBytes;
  if (report) req.on('data', (chunk: Buffer) => report(chunk.length));
  const windowTimer = setInterval(() => {
    if (inWindow < minBytes) {
      tooSlow(new SpoolError('request_timeout',
        `only ${inWindow} body bytes in ${pace.windowMs} ms; at least ${pace.minBytesPerSec} B/s expected (INGEST_BODY_TIMEOUT_MS, INGEST_MIN_BODY_RATE)`,
        { headers: { Connection: 'close' } }));
    }
    inWindow = 0;
  }, pace.windowMs);
  windowTimer.unref();
  const clock = new ClientClock(req);
  const bytesPerSec = (): number => (received * 1000) / Math.max(1, clock.ms());
  const projection = projectionTimer(req, pace, clock, () => received, tooSlow);
  reading.set(req, { cut: tooSlow, bytesPerSec });
  return () => {
    clearInterval(windowTimer);
    if (projection) clearInterval(projection);
    clock.stop();
    req.off('data', count);
    reading.delete(req);
  };
}

/** Checks every second (after a grace) that the declared body can still finish within maxBodyMs; null when not judged. */
function projectionTimer(req: IncomingMessage, pace: BodyPace, clock: ClientClock, received: () => number, tooSlow: (err: SpoolError) => void): NodeJS.Timeout | null {
  const declared = Number(req.headers['content-length']);
  const limit = pace.maxBodyMs;
  if (limit === undefined || req.headers['content-length'] === undefined || !(declared > 0)) return null;
  const grace = Math.min(PROJECTION_GRACE_MS, pace.windowMs, limit);
  const timer = setInterval(() => {
    const elapsed = clock.ms();
    if (elapsed < grace) return;
    const got = received();
    const projected = got > 0 ? (elapsed * declared) / got : Infinity;
    if (projected <= limit) return;
    const rate = Math.round((got * 1000) / elapsed);
    tooSlow(new SpoolError('request_timeout',
      `at ${rate} B/s so far, the ${declared} bytes declared would take ${Number.isFinite(projected) ? `~${Math.round(projected / 1000)} s` : 'for ever'}, over INGEST_BODY_MAX_MS (${limit} ms)`,
      { headers: { Connection: 'close' } }));
  }, PROJECTION_CHECK_MS);
  timer.unref();
  return timer;
}

/** Milliseconds of a body's reading in which the service was ready for more (not holding it back). */
class ClientClock {
  private total = 0;
  /** When the current stretch of reading began; null while the body is paused by its consumer. */
  private since: number | null;
  private readonly onPause = (): void => {
    if (this.since !== null) this.total += performance.now() - this.since;
    this.since = null;
  };
  private readonly onResume = (): void => {
    this.since ??= performance.now();
  };

  constructor(private readonly req: IncomingMessage) {
    this.since = req.isPaused() ? null : performance.now();
    req.on('pause', this.onPause);
    req.on('resume', this.onResume);
  }

  ms(): number {
    return this.total + (this.since === null ? 0 : performance.now() - this.since);
  }

  stop(): void {
    this.req.off('pause', this.onPause);
    this.req.off('resume', this.onResume);
  }
}

/** The connection may be gone already (reset, or a protocol error Node answered itself) before a parser starts. */
export function connectionGone(req: IncomingMessage): boolean {
  return req.destroyed || req.readableAborted || req.errored !== null;
}
