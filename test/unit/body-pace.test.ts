/**
 * The body pace guard's projection (issue 18): a body that declared its length is cut as soon as, at the
 * pace it has kept, it could not finish within INGEST_BODY_MAX_MS; time the service held it back does not count.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SpoolError } from '../../src/errors.js';
import { guardBodyPace, readingBody } from '../../src/http/body-pace.js';

const PACE = { windowMs: 30_000, minBytesPerSec: 1000, maxBodyMs: 300_000 };

function body(declared: number | null): { req: IncomingMessage; cuts: SpoolError[]; stop: () => void } {
  const req = new IncomingMessage(new Socket());
  if (declared !== null) req.headers['content-length'] = String(declared);
  const cuts: SpoolError[] = [];
  const stop = guardBodyPace(req, PACE, (err) => cuts.push(err));
  return { req, cuts, stop };
}

/** `bytesPerSec` arriving in 100 ms pieces for `ms`. */
async function send(req: IncomingMessage, bytesPerSec: number, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    req.emit('data', Buffer.alloc(bytesPerSec / 10));
    await vi.advanceTimersByTimeAsync(100);
  }
}

describe('body pace: projection against the declared length', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'performance', 'Date'] }); });
  afterEach(() => { vi.useRealTimers(); });

  it('cuts a 4 MB body trickling 1.2 KB/s after the 5 s grace, with a 408 that says why', async () => {
    const b = body(4_000_000);
    await send(b.req, 1200, 4900);
    expect(b.cuts).toEqual([]);
    await send(b.req, 1200, 200);
    expect(b.cuts.map((e) => e.code)).toEqual(['request_timeout']);
    expect(b.cuts[0]?.message).toMatch(/at 1\d{3} B\/s so far, the 4000000 bytes declared would take ~3\d{3} s, over INGEST_BODY_MAX_MS \(300000 ms\)/);
    expect(b.cuts[0]?.headers).toEqual({ Connection: 'close' });
    b.stop();
  });

  it('leaves alone a body that will finish in time, one without a declared length, and time the service held it back', async () => {
    const ok = body(4_000_000);
    await send(ok.req, 20_000, 10_000); // 200 s for 4 MB: within 300 s
    expect(ok.cuts).toEqual([]);
    ok.stop();

    const chunked = body(null);
    await send(chunked.req, 1200, 10_000); // only the per-window minimum applies
    expect(chunked.cuts).toEqual([]);
    chunked.stop();

    const held = body(4_000_000);
    await send(held.req, 100_000, 1000);
    held.req.emit('pause'); // the disk is slow: the service reads nothing for 20 s
    await vi.advanceTimersByTimeAsync(20_000);
    held.req.emit('resume');
    await send(held.req, 100_000, 2000);
    expect(held.cuts).toEqual([]);
    expect(readingBody(held.req)?.bytesPerSec()).toBeCloseTo(100_000, -3);
    held.stop();
    expect(readingBody(held.req)).toBeUndefined();
  });
});
