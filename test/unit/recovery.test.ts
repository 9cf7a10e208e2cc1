import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { Volume } from 'memfs';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { ImageLedger } from '../../src/ledger/images.js';
import { migrate } from '../../src/ledger/migrate.js';
import type { NewImage } from '../../src/ledger/types.js';
import { recoverSpool, type RecoveryFs } from '../../src/spool/recovery.js';

const log = pino({ level: 'silent' });

function row(id: string, bytes: number, ageMs: number): NewImage {
  const receivedAt = new Date(Date.now() - ageMs).toISOString();
  return { id, device_id: 'cam', sha256: createHash('sha256').update(id).digest('hex'), bytes, content_type: 'image/jpeg', path: `images/${id}.jpg`, s3_key: `cam/${id}.jpg`, received_at: receivedAt };
}

describe('recoverSpool', () => {
  let ledger: ImageLedger;
  let fs: RecoveryFs;
  let vol: InstanceType<typeof Volume>;

  beforeEach(() => {
    const db = new Database(':memory:');
    migrate(db);
    ledger = new ImageLedger(db);
    vol = Volume.fromJSON({
      '/spool/images/QUEUED.jpg': 'x'.repeat(5),
      '/spool/images/UPLOADING.jpg': 'x'.repeat(6),
      '/spool/images/DONE.jpg': 'x'.repeat(7),
      '/spool/images/SHORT.jpg': 'x'.repeat(3),
      '/spool/images/ORPHAN.jpg': 'never acknowledged',
      '/spool/images/PARTIAL.part': 'half',
    });
    fs = vol.promises as unknown as RecoveryFs;
        // The two oldest are claimed by the "crashed" process: one still uploading, one uploaded whose file was not yet deleted.
    ledger.insertMany([row('UPLOADING', 6, 50), row('DONE', 7, 40), row('QUEUED', 5, 30), row('SHORT', 8, 20), row('MISSING', 9, 10)]);
    for (let i = 0; i < 2; i++) ledger.claimNext(new Date(Date.now() + 1000));
    ledger.markUploaded('DONE', new Date());
  });

  it('requeues interrupted uploads, removes unacknowledged files, and flags rows without their file', async () => {
    expect(ledger.get('UPLOADING')?.state).toBe('uploading');
    const report = await recoverSpool({ ledger, spoolDir: '/spool', imagesDir: '/spool/images', keepUploadedFiles: false, log, fs });
    expect(report).toMatchObject({ requeued: 1, partsRemoved: 1, orphansRemoved: 1, uploadedRemoved: 1, missing: ['MISSING'], wrongSize: ['SHORT'] });
    expect(vol.readdirSync('/spool/images').sort()).toEqual(['QUEUED.jpg', 'SHORT.jpg', 'UPLOADING.jpg']);
    expect(ledger.get('UPLOADING')?.state).toBe('queued');
    expect(ledger.get('MISSING')).toMatchObject({ state: 'dead', last_error: expect.stringContaining('spool_file_missing') });
    expect(ledger.get('SHORT')).toMatchObject({ state: 'dead', last_error: expect.stringContaining('spool_file_corrupt') });
    expect(ledger.get('QUEUED')?.state).toBe('queued');
  });

  it('marks a lost file\'s row so that it is recognised as lost, and removes the leftover of a row that shares another copy now', async () => {
    await recoverSpool({ ledger, spoolDir: '/spool', imagesDir: '/spool/images', keepUploadedFiles: false, log, fs });
    // SHORT (wrong size) is lost: another device's copy of its bytes makes it a duplicate; its corrupt file is left.
    const copy = { ...row('COPY', 8, 0), device_id: 'cam-2', sha256: ledger.get('SHORT')?.sha256 as string };
    expect(ledger.insertMany([copy])).toEqual([{ kind: 'inserted', absorbed: ['images/SHORT.jpg'] }]);
    vol.writeFileSync('/spool/images/COPY.jpg', 'x'.repeat(8));
    // A crash before the leftover was deleted: the next start removes it.
    const report = await recoverSpool({ ledger, spoolDir: '/spool', imagesDir: '/spool/images', keepUploadedFiles: false, log, fs });
    expect(report).toMatchObject({ lostCopiesRemoved: 1, missing: [], wrongSize: [] });
    expect(vol.readdirSync('/spool/images').sort()).toEqual(['COPY.jpg', 'QUEUED.jpg', 'UPLOADING.jpg']);
  });

  it('keeps uploaded files when retention asks for it', async () => {
    const report = await recoverSpool({ ledger, spoolDir: '/spool', imagesDir: '/spool/images', keepUploadedFiles: true, log, fs });
    expect(report.uploadedRemoved).toBe(0);
    expect(vol.existsSync('/spool/images/DONE.jpg')).toBe(true);
  });
});
