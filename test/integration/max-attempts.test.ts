/**
 * MAX_ATTEMPTS applies to S3 refusing the image itself (4xx), not to network errors and 5xx, which are
 * retried forever: three resets and then one 403 must not make an image dead when MAX_ATTEMPTS=2.
 */
import { describe, expect, it } from 'vitest';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, waitFor } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

describe('MAX_ATTEMPTS', () => {
  it('counts only the image\'s own refusals: resets do not use it up; the second 403 makes it dead', async () => {
    const s3 = await startTestS3();
    const proxy = await startFaultProxy({
      upstream: s3.endpoint,
      schedule: [
        { kind: 'reset', method: 'PUT', at: 0.5 }, { kind: 'reset', method: 'PUT', at: 0.5 }, { kind: 'reset', method: 'PUT', at: 0.5 },
        { kind: 'error', method: 'PUT', status: 403, code: 'AccessDenied' },
        { kind: 'error', method: 'PUT', status: 403, code: 'AccessDenied' },
      ],
    });
    const svc = await startInProcess({ ...s3, endpoint: proxy.endpoint }, { MAX_ATTEMPTS: '2', RETRY_BASE_MS: '10', RETRY_MAX_MS: '50', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const res = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(100_000));
      const id = res.body['id'] as string;
      const dead = await waitFor(() => (svc.service.ledger.get(id)?.state === 'dead' ? svc.service.ledger.get(id) : undefined), 15_000, 'dead');
      expect(dead).toMatchObject({ attempts: 5, permanent_failures: 1, last_error: expect.stringMatching(/AccessDenied/) });
      expect(proxy.counters.faults).toMatchObject({ reset: 3, error: 2 });
    } finally {
      await svc.close();
      await proxy.close();
      await s3.close();
    }
  }, 30_000);
});
