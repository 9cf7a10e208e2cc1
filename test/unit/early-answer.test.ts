/** Which early answers keep the connection to drain the body, and which close it (src/http/early-answer.ts). */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../src/errors.js';
import { answerBeforeBody, continueOnFirstRead, DRAIN_MAX_BYTES } from '../../src/http/early-answer.js';

function request(headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  Object.assign(req.headers, headers);
  return req;
}

const tooLarge = new SpoolError('image_too_large', 'too large', { headers: { Connection: 'close' } });

describe('answerBeforeBody', () => {
  it('drains a declared body up to DRAIN_MAX_BYTES (no Connection: close), closes on a larger or chunked one', () => {
    expect(answerBeforeBody(tooLarge, request({ 'content-length': '5000000' }))).toEqual({});
    expect(answerBeforeBody(new SpoolError('unsupported_media_type', 'x'), request({ 'content-length': String(DRAIN_MAX_BYTES) }))).toEqual({});
    expect(answerBeforeBody(tooLarge, request({ 'content-length': String(DRAIN_MAX_BYTES + 1) }))).toEqual({ Connection: 'close' });
    expect(answerBeforeBody(new SpoolError('unsupported_media_type', 'x'), request({ 'transfer-encoding': 'chunked' }))).toEqual({ Connection: 'close' });
  });

  it('closes on a slow or displaced sender, and on an Expect: 100-continue request never told to send', () => {
    const slow = new SpoolError('request_timeout', 'slow', { headers: { Connection: 'close' } });
    expect(answerBeforeBody(slow, request({ 'content-length': '1000' }))).toEqual({ Connection: 'close' });
    const displaced = new SpoolError('too_busy', 'x', { headers: { 'Retry-After': '1', Connection: 'close' } });
    expect(answerBeforeBody(displaced, request({ 'content-length': '1000' }))).toEqual({ 'Retry-After': '1', Connection: 'close' });
    const busy = new SpoolError('too_busy', 'x', { headers: { 'Retry-After': '1' } });
    expect(answerBeforeBody(busy, request({ 'content-length': '1000' }))).toEqual({ 'Retry-After': '1' }); // a camera must see its 503
    const expecting = request({ 'content-length': '100000000000', expect: '100-continue' });
    const res = new ServerResponse(expecting);
    continueOnFirstRead(expecting, res);
    expect(res.shouldKeepAlive).toBe(false);
    expect(answerBeforeBody(tooLarge, expecting)).toEqual({ Connection: 'close' });
  });

  it('leaves a complete body alone', () => {
    const req = request({ 'content-length': '10' });
    req.complete = true;
    expect(answerBeforeBody(tooLarge, req)).toEqual({ Connection: 'close' });
  });
});
