/**
 * The object reached S3 but recording it in the ledger failed (disk full, I/O error): the row must not be
 * lost in `uploading` until a restart, nor uploaded again; the uploader retries the ledger write.
 */
import { describe, expect, it } from 'vitest';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, waitFor } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

describe('ledger write failure after a successful upload', () => {
  it('retries marking the image uploaded and does not upload it twice', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const ledger = svc.service.ledger;
      const original = ledger.markUploaded.bind(ledger);
      let failures = 0;
      ledger.markUploaded = (id, now) => {
        if (failures < 3) {
          failures++;
          throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        }
        original(id, now);
      };
      let uploads = 0;
      svc.service.uploader.on('image:uploaded', () => { uploads++; });
      const res = await postImage(svc.baseUrl, 'cam-1', fakeJpeg(50_000));
      expect(res.status).toBe(202);
      const id = res.body['id'] as string;
      // Retried at the uploader's next turns until the write succeeds (the fourth try here).
      await waitFor(() => (ledger.get(id)?.state === 'uploaded' ? true : undefined), 10_000, 'recorded upload');
      expect(failures).toBe(3);
      // Never claimed again meanwhile (it was 'uploading', not queued): one attempt, one object.
      expect(ledger.get(id)?.attempts).toBe(1);
      expect((await s3.listAll()).filter((o) => o.Key?.includes(id))).toHaveLength(1);
      expect(uploads).toBe(1); // announced (and its local copy deleted) once recorded
      await waitFor(async () => ((await svc.files()).length === 0 ? true : undefined), 5000, 'local copy removed');
    } finally {
      await svc.close();
      await s3.close();
    }
  }, 30_000);
});
