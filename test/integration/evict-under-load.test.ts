/**
 * SPOOL_FULL_POLICY=evict-oldest under concurrent load (issue 18, item 5): with queued images left to evict, no
 * device is ever refused, whether the limit is a small disk (a real tmpfs, SPOOL_MIN_FREE_BYTES) or
 * SPOOL_MAX_BYTES; a device is refused only when nothing evictable is left, and the log line says what holds
 * the space.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg, postImage, type PostResult } from '../helpers/images.js';
import { startInProcess, waitFor, type InProcessService } from '../helpers/in-process.js';
import { startMultipartFront } from '../helpers/s3-multipart-ext.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { mountTmpfs, watchFreeSpace, type Tmpfs } from '../helpers/tmpfs.js';

const MB = 1_000_000;
const IMAGE = 250_000;

/** `lanes` devices posting `perLane` images each, back to back: `lanes` uploads in flight at every moment. */
async function load(svc: InProcessService, lanes: number, perLane: number): Promise<PostResult[]> {
  const results: PostResult[] = [];
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let i = 0; i < perLane; i++) results.push(await postImage(svc.baseUrl, `cam-${lane}`, fakeJpeg(IMAGE)));
  }));
  return results;
}

/** What the load left: every acknowledged image kept or evicted, and how many of each. */
function outcome(svc: InProcessService, results: PostResult[]) {
  const refused = results.filter((r) => r.status !== 202).map((r) => `${r.status} ${JSON.stringify(r.body)}`);
  const states = results.filter((r) => r.status === 202).map((r) => svc.service.ledger.get(r.body['id'] as string)?.state);
  return { refused, states, evicted: states.filter((s) => s === 'evicted').length, kept: states.filter((s) => s === 'queued' || s === 'uploading').length };
}

// 1 KB/s and one upload at a time: nothing drains, so the spool stays full and every admission must evict.
const HELD = { UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_FULL_POLICY: 'evict-oldest', SHUTDOWN_GRACE_MS: '100' };

describe('evict-oldest under concurrent load', () => {
  let s3: TestS3;
  let mount: Tmpfs | string;
  beforeAll(async () => {
    s3 = await startTestS3();
    mount = mountTmpfs(24);
  });
  afterAll(async () => {
    if (typeof mount !== 'string') mount.unmount();
    await s3?.close();
  });

  it('a 24 MB disk with an 8 MB floor: 12 devices at once, 180 images, none refused, the floor kept', async (ctx) => {
    if (typeof mount === 'string') {
      console.log(`SKIPPED tmpfs eviction test: ${mount}`);
      ctx.skip();
      return;
    }
    const svc = await startInProcess(s3, { ...HELD, SPOOL_MIN_FREE_BYTES: String(8 * MB) }, { spoolDir: mount.dir });
    const free = watchFreeSpace(mount.dir);
    try {
      const { refused, evicted, kept } = outcome(svc, await load(svc, 12, 15));
      expect(refused).toEqual([]);
      // 45 MB sent through 16 MB of room: most were evicted to admit the newer ones.
      expect(evicted).toBeGreaterThan(100);
      expect(kept * IMAGE).toBeLessThan(16 * MB);
    } finally {
      await free.stop();
      await svc.close();
    }
    // Reservations keep every image's bytes off the free space before a byte is written. The ledger's WAL is not
    // reserved: statfs sees it grow at the next admission (near the floor each one reads it), so allow it 1 MB.
    expect(free.min).toBeGreaterThan(7 * MB);
  }, 120_000);

  it('SPOOL_MAX_BYTES 4 MB: 12 devices at once, 180 images, none refused, the spool within its limit', async () => {
    const svc = await startInProcess(s3, { ...HELD, SPOOL_MAX_BYTES: String(4 * MB), SPOOL_MIN_FREE_BYTES: '0' });
    try {
      const { refused, evicted, kept } = outcome(svc, await load(svc, 12, 15));
      expect(refused).toEqual([]);
      expect(evicted).toBeGreaterThan(150);
      expect(kept).toBeGreaterThan(0);
      expect(svc.service.ledger.localBytes(false)).toBeLessThanOrEqual(4 * MB);
    } finally {
      await svc.close();
    }
  }, 120_000);

  it('refuses only when nothing is left to evict, and the log line and the answer say what holds the space', async () => {
    // S3 refuses every image: each becomes dead, and a dead image keeps its file (the operator may requeue it).
    const front = await startMultipartFront(s3);
    front.refuse = (op) => (op === 'PutObject' ? { status: 403, code: 'AccessDenied' } : null);
    const logs: string[] = [];
    const svc = await startInProcess({ ...s3, endpoint: front.endpoint },
      { SPOOL_FULL_POLICY: 'evict-oldest', SPOOL_MAX_BYTES: String(MB), SPOOL_MIN_FREE_BYTES: '0', MAX_ATTEMPTS: '1', UPLOAD_BWLIMIT: '50MB' }, { logs });
    try {
      const dead: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await postImage(svc.baseUrl, `cam-${i}`, fakeJpeg(IMAGE));
        expect(res.status).toBe(202);
        dead.push(res.body['id'] as string);
        await waitFor(() => (svc.service.ledger.get(res.body['id'] as string)?.state === 'dead' ? true : undefined), 10_000, 'dead');
      }
      // 750 kB dead, none queued: a fourth image cannot fit, and there is nothing to evict for it.
      const refused = await postImage(svc.baseUrl, 'cam-9', fakeJpeg(IMAGE));
      expect(refused.status).toBe(507);
      expect(refused.body).toMatchObject({ error: { code: 'disk_full', message: expect.stringContaining('nothing left to evict: 0.0 MB queued (evictable), 0.0 MB being uploaded, 0.8 MB dead') } });
      const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l['msg']).startsWith('spool full and nothing left to evict'));
      expect(line).toMatchObject({ level: 40, queued_bytes: 0, uploading_bytes: 0, dead_bytes: 3 * IMAGE });
      for (const id of dead) expect(svc.service.ledger.get(id)?.state).toBe('dead');
    } finally {
      await svc.close();
      await front.close();
    }
  }, 60_000);
});
