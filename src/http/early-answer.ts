import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SpoolError } from '../errors.js';

/**
 * Answers given before a request's body has been read (413 by Content-Length, 401, 415, 503, ...) must
 * reach the client (issue 18). A server that answers and closes while the client is still sending makes
 * Node's `fetch` see EPIPE instead of the answer (6 of 6 times), though curl shows it. Two cases:
 *
 * - `Expect: 100-continue`: the 100 is sent only when the service first reads the body, so an early answer
 *   goes out before the client has sent a byte of it, and the connection closes (the client will not send).
 * - No Expect: the client is sending already. A body up to DRAIN_MAX_BYTES is read to its end and thrown
 *   away, and the connection stays open; a larger or unframed (chunked) one is closed on, as no answer is
 *   worth reading gigabytes for. The drain must keep a LAN pace (its Content-Length at DRAIN_MIN_RATE, at
 *   least 2 s, at most DRAIN_MAX_MS): a trickler refused early must not hold its socket for long either.
 */
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
export const DRAIN_MAX_MS = 30_000;
const DRAIN_MIN_MS = 2000;
/** 64 KB/s (512 kbit/s): a camera on a poor link drains 5 MB in 80 s, so only trickling clients are cut early. */
const DRAIN_MIN_RATE = 64 * 1024;

const awaitingContinue = new WeakSet<IncomingMessage>();

/**
 * For Node's 'checkContinue' event: holds the `100 Continue` back until the body is first read (Node would
 * send it at once), and closes the connection after an answer given without it.
 */
export function continueOnFirstRead(req: IncomingMessage, res: ServerResponse): void {
  awaitingContinue.add(req);
  const keepAlive = res.shouldKeepAlive;
  res.shouldKeepAlive = false;
  const read = req._read;
  req._read = function readAfterContinue(size: number): void {
    req._read = read;
    if (awaitingContinue.delete(req) && !res.headersSent) {
      res.shouldKeepAlive = keepAlive;
      res.writeContinue();
    }
    read.call(this, size);
  };
}

/** The headers to answer `err` with, given what is left of the body, and whether that rest will be read and discarded. */
export function answerBeforeBody(err: SpoolError, req: IncomingMessage): Record<string, string> {
  const headers = { ...err.headers };
  if (req.complete) return headers;
  const closes = 'Connection' in headers;
  if (awaitingContinue.has(req)) return { ...headers, Connection: 'close' }; // the client has not sent it
  // A slow sender, or one displaced as the slowest: waiting for the rest of its body is what must not happen.
  if (closes && (err.code === 'request_timeout' || err.code === 'too_busy')) return headers;
  if (!drainable(req)) return { ...headers, Connection: 'close' };
  delete headers['Connection'];
  return headers;
}

/**
 * Once the answer is sent, a body still arriving on a connection kept open is read and discarded (Node does
 * that itself) for a bounded time; then the connection is closed.
 */
export function boundUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  res.once('finish', () => {
    if (req.complete || req.socket.destroyed) return;
    const timer = setTimeout(() => req.socket.destroy(), drainMs(req));
    timer.unref();
    req.once('end', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
    req.resume();
  });
}

function drainMs(req: IncomingMessage): number {
  const length = req.headers['content-length'];
  if (length === undefined) return DRAIN_MAX_MS;
  return Math.min(DRAIN_MAX_MS, Math.max(DRAIN_MIN_MS, (Number(length) * 1000) / DRAIN_MIN_RATE));
}

function drainable(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) <= DRAIN_MAX_BYTES;
}
