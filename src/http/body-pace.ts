import type { IncomingMessage } from 'node:http';
import { SpoolError } from '../errors.js';

/** Slow-client guard: within every `windowMs` of the body, at least `minBytesPerSec x window` must arrive. */
export interface BodyPace {
  windowMs: number;
  minBytesPerSec: number;
  /** Hears every body byte the endpoint reads, those discarded after a refusal included (a metric). */
  onBytes?: (bytes: number) => void;
}

/**
 * A device that stops sending, or trickles, must not hold an ingest slot and a half-written file for
 * long: 500 such connections would otherwise starve real devices of MAX_CONCURRENT_UPLOADS. Calls
 * `tooSlow` with a 408 (the connection closes after the answer). Returns the function that stops the guard.
 */
export function guardBodyPace(req: IncomingMessage, pace: BodyPace, tooSlow: (err: SpoolError) => void): () => void {
  const minBytes = Math.max(1, (pace.minBytesPerSec * pace.windowMs) / 1000);
  let received = 0;
  const count = (chunk: Buffer): void => { received += chunk.length; };
  req.on('data', count);
  // Not removed by the returned stop: a refused body is still read (and discarded) to its end.
  const report = pace.onBytes;
  if (report) req.on('data', (chunk: Buffer) => report(chunk.length));
  const timer = setInterval(() => {
    if (received < minBytes) {
      tooSlow(new SpoolError('request_timeout',
        `only ${received} body bytes in ${pace.windowMs} ms; at least ${pace.minBytesPerSec} B/s expected (INGEST_BODY_TIMEOUT_MS, INGEST_MIN_BODY_RATE)`,
        { headers: { Connection: 'close' } }));
    }
    received = 0;
  }, pace.windowMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    req.off('data', count);
  };
}

/** The connection may be gone already (reset, or a protocol error Node answered itself) before a parser starts. */
export function connectionGone(req: IncomingMessage): boolean {
  return req.destroyed || req.readableAborted || req.errored !== null;
}
