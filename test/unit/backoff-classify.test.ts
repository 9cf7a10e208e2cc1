import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../src/errors.js';
import { backoffDelayMs } from '../../src/uploader/backoff.js';
import { classifyFailure } from '../../src/uploader/classify.js';

function s3Error(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: name });
}

describe('backoffDelayMs', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    expect(backoffDelayMs(1, 1000, 300_000, () => 0.999)).toBe(999);
    expect(backoffDelayMs(4, 1000, 300_000, () => 0.999)).toBe(7992);
    expect(backoffDelayMs(30, 1000, 300_000, () => 0.999)).toBe(299_700);
    expect(backoffDelayMs(5, 1000, 300_000, () => 0)).toBe(0);
  });
});

describe('classifyFailure', () => {
  it('retries 5xx, throttling and network errors forever', () => {
    expect(classifyFailure(s3Error('InternalError', 500))).toBe('transient');
    expect(classifyFailure(s3Error('SlowDown', 503))).toBe('transient');
    expect(classifyFailure(s3Error('RequestTimeout', 400))).toBe('transient');
    expect(classifyFailure(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe('transient');
    expect(classifyFailure(new SpoolError('upload_stalled', 'stalled'))).toBe('transient');
  });

  it('treats other 4xx as permanent for the image and a broken local file as fatal', () => {
    expect(classifyFailure(s3Error('InvalidDigest', 400))).toBe('permanent');
    expect(classifyFailure(s3Error('AccessDenied', 403))).toBe('permanent');
    expect(classifyFailure(new SpoolError('spool_file_missing', 'gone'))).toBe('fatal');
    expect(classifyFailure(new SpoolError('spool_file_corrupt', 'bad'))).toBe('fatal');
  });

  it('treats credentials, a missing bucket, clock skew and an unreachable endpoint as systemic (pause, do not spend attempts)', () => {
    for (const [code, status] of [['InvalidAccessKeyId', 403], ['SignatureDoesNotMatch', 403], ['NoSuchBucket', 404], ['RequestTimeTooSkewed', 403], ['ExpiredToken', 400]] as const) {
      expect(classifyFailure(s3Error(code, status))).toBe('systemic');
    }
    expect(classifyFailure(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('systemic');
    expect(classifyFailure(Object.assign(new Error('no such host'), { code: 'ENOTFOUND' }))).toBe('systemic');
    expect(classifyFailure(Object.assign(new Error('no creds'), { name: 'CredentialsProviderError' }))).toBe('systemic');
  });
});
