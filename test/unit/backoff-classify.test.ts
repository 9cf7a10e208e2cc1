import { S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../src/errors.js';
import { backoffDelayMs } from '../../src/uploader/backoff.js';
import { classifyFailure, describeFailure } from '../../src/uploader/classify.js';

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

  it('treats bytes damaged on the way (BadDigest: the Content-MD5 or checksum did not match) as transient, a malformed digest header as permanent', () => {
    expect(classifyFailure(s3Error('BadDigest', 400))).toBe('transient');
    expect(classifyFailure(s3Error('XAmzContentSHA256Mismatch', 400))).toBe('transient');
    expect(classifyFailure(s3Error('InvalidDigest', 400))).toBe('permanent');
  });

  it('treats a wrong region or endpoint as systemic and names the region S3 expects, from the error or from x-amz-bucket-region', () => {
    const withResponse = (err: S3ServiceException, headers: Record<string, string>, fields: Record<string, string> = {}): S3ServiceException =>
      Object.assign(err, { $response: { statusCode: err.$metadata.httpStatusCode, headers }, ...fields });
    const malformed = withResponse(s3Error('AuthorizationHeaderMalformed', 400), {}, { Code: 'AuthorizationHeaderMalformed', Region: 'eu-west-1' });
    expect(classifyFailure(malformed)).toBe('systemic');
    expect(describeFailure(malformed)).toBe('wrong S3 region or endpoint (HTTP 400 AuthorizationHeaderMalformed: AuthorizationHeaderMalformed); S3 says the bucket is in region eu-west-1: set S3_REGION=eu-west-1');
    const redirect = withResponse(s3Error('PermanentRedirect', 301), { 'x-amz-bucket-region': 'ap-south-1' }, { Code: 'PermanentRedirect', Endpoint: 'b.s3.ap-south-1.amazonaws.com' });
    expect(classifyFailure(redirect)).toBe('systemic');
    expect(describeFailure(redirect)).toMatch(/region ap-south-1 at b\.s3\.ap-south-1\.amazonaws\.com: set S3_REGION=ap-south-1$/);
    // HEAD answers have no body: the status and the header are all there is.
    const headAnswer = withResponse(s3Error('Unknown', 400), { 'x-amz-bucket-region': 'eu-central-1' });
    expect(classifyFailure(headAnswer)).toBe('systemic');
    expect(describeFailure(headAnswer)).toBe('wrong S3 region or endpoint (HTTP 400 without a body); S3 says the bucket is in region eu-central-1: set S3_REGION=eu-central-1');
    expect(classifyFailure(withResponse(s3Error('Unknown', 301), {}))).toBe('systemic');
    // A bodiless 400 without the header is not a region problem (and a 400 with a body is the image's).
    expect(classifyFailure(withResponse(s3Error('Unknown', 400), {}))).toBe('permanent');
    expect(classifyFailure(withResponse(s3Error('InvalidArgument', 400), { 'x-amz-bucket-region': 'eu-west-1' }, { Code: 'InvalidArgument' }))).toBe('permanent');
  });
});
