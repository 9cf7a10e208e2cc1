/**
 * "A 202 survives a power cut", through the power-loss layer (test/powerloss/powerloss_fs.py, tested on its
 * own in layer.test.ts): the service runs on a spool inside the layer, S3 (s3rver) outside it. After every
 * cut, remount and restart, each receipt must be uploaded with its bytes or queued with its file
 * sha256-exact, no row or file may be left half-done, and the ledger must pass PRAGMA integrity_check.
 *
 * Knobs: POWERLOSS_CYCLES (default 3), POWERLOSS_SEED (default 21: CI runs a fixed seed), POWERLOSS_CUT_MODES
 * (default clean; e.g. clean,torn,reorder), POWERLOSS_LANES (150), POWERLOSS_MAX_BYTES (4000000).
 * `npm run powerloss -- --cycles N [--seed S] [--modes clean,torn,reorder]` runs this file with a random seed.
 * Skipped, with the reason printed, without /dev/fuse, fusepy or root; with CI=true that is one failing test instead.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTimeout } from '../helpers/crash-harness.js';
import { describeOrSkip } from '../helpers/describe-or-skip.js';
import { fakeJpeg, postImage, sha256Hex } from '../helpers/images.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { BROKEN_BUILDS, buildBroken } from './broken-builds.js';
import { lostBy, runPowerLossCycles } from './cycles.js';
import { PowerLossDisk, powerLossUnavailable, type CutMode } from './layer.js';
import { checkSpool, type Receipt } from './spool-check.js';

const unavailable = powerLossUnavailable();

const CYCLES = Number(process.env['POWERLOSS_CYCLES'] ?? 3);
const SEED = process.env['POWERLOSS_SEED'] !== undefined ? Number(process.env['POWERLOSS_SEED']) >>> 0 : 21;
const CUT_MODES = (process.env['POWERLOSS_CUT_MODES'] ?? 'clean').split(',') as CutMode[];
const LANES = Number(process.env['POWERLOSS_LANES'] ?? 150);
const MAX_BYTES = Number(process.env['POWERLOSS_MAX_BYTES'] ?? 4_000_000);
/** Broken builds to run (names in broken-builds.ts, or all), each for POWERLOSS_BROKEN_CYCLES cuts during ingest. */
const BROKEN = (process.env['POWERLOSS_BROKEN'] ?? 'no-file-fsync').split(',').filter((n) => n !== '')
  .flatMap((n) => (n === 'all' ? Object.keys(BROKEN_BUILDS) : [n]));
const BROKEN_CYCLES = Number(process.env['POWERLOSS_BROKEN_CYCLES'] ?? 1);

describeOrSkip('power cuts through the layer', unavailable, () => {
  let s3: TestS3;
  let work: string;
  let disk: PowerLossDisk;
  let svc: ServiceProcess | null = null;

  beforeAll(async () => {
    s3 = await startTestS3();
    work = await mkdtemp(path.join(os.tmpdir(), 'powerloss-first-'));
    disk = new PowerLossDisk(path.join(work, 'disk'), path.join(work, 'mnt'));
  });

  afterAll(async () => {
    if (svc && svc.child.exitCode === null && svc.child.signalCode === null) svc.kill('SIGKILL');
    await svc?.exited;
    await disk?.unmount();
    await s3?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('first start: the SPOOL_DIR the service creates (and its new parents) is durable, so its first receipts survive a cut', async () => {
    // A fresh install: nothing of <mount>/site/spool exists yet, and nothing else will ever fsync the mount's root.
    const spoolDir = path.join(disk.mountpoint, 'site', 'spool');
    const env = { ...s3Env(s3), SPOOL_DIR: spoolDir, SPOOL_MIN_FREE_BYTES: '0', UPLOAD_BWLIMIT: '1MB' };
    await disk.mount();
    svc = await startServiceProcess(env, 60_000);
    const receipts: Receipt[] = [];
    await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const image = fakeJpeg(30_000 + i * 10_000);
      const res = await postImage((svc as ServiceProcess).baseUrl, `cam-${i}`, image);
      expect(res.status).toBe(202);
      expect(res.body['sha256']).toBe(sha256Hex(image));
      receipts.push({ id: String(res.body['id']), sha256: sha256Hex(image), bytes: image.length, cycle: 0, via: 'multipart' });
    }));
    await disk.cut();
    svc.kill('SIGKILL');
    await withTimeout(svc.exited, 20_000, 'the service to die');
    await disk.unmount();
    await disk.mount();
    svc = await startServiceProcess(env, 60_000);
    const check = await checkSpool(spoolDir, s3, receipts, new Set());
    svc.kill('SIGTERM');
    await withTimeout(svc.exited, 20_000, 'the service to stop');
    svc = null;
    expect({ lost: check.lost, corrupt: check.corrupt, halfDone: check.halfDone, integrity: check.integrity })
      .toEqual({ lost: [], corrupt: [], halfDone: [], integrity: 'ok' });
    expect(check.survived).toBe(8);
    expect(disk.errors).toBe('');
  }, 120_000);

  it(`${CYCLES} power cuts at random moments of ${LANES}-parallel ingest and uploads lose no receipt`, async () => {
    const result = await runPowerLossCycles({
      seed: SEED, cycles: CYCLES, lanes: LANES, maxBytes: MAX_BYTES, cutModes: CUT_MODES, syncDelaysMs: [0, 30], log: (l) => console.log(l),
    });
    const { final } = result;
    console.log(`powerloss: seed=${SEED} cycles=${CYCLES} receipts=${result.receipts} survived=${final.survived} lost=${final.lost.length} ` +
      `corrupt=${final.corrupt.length} half_done=${final.halfDone.length} integrity=${final.integrity} (replay: POWERLOSS_SEED=${SEED})`);
    const some = (l: string[]): string[] => (l.length > 10 ? [...l.slice(0, 10), `... and ${l.length - 10} more`] : l);
    const findings = result.reports.map((r) => ({
      cycle: r.cycle, lost: some(r.check.lost), corrupt: some(r.check.corrupt), halfDone: some(r.check.halfDone),
      integrity: r.check.integrity, unexpected: some(r.unexpected),
    }));
    expect(findings, `seed ${SEED}`).toEqual(result.reports.map((r) => ({ cycle: r.cycle, lost: [], corrupt: [], halfDone: [], integrity: 'ok', unexpected: [] })));
    expect(result.layerErrors).toBe('');
    // Only a proof if the cuts caught something in flight: receipts were issued, and most cycles had some.
    expect(result.receipts).toBeGreaterThan(CYCLES * 10);
  }, 120_000 + CYCLES * 60_000);
});

/**
 * The same cycles against builds with one durability step broken must lose receipts, or a pass above would
 * prove nothing. A build that loses at every cut during ingest must lose here; for the others (the WAL's
 * sync is late, or covered by another commit's) a loss depends on timing, so it is printed, not asserted.
 * docs/RELIABILITY.md records what each one lost.
 */
// Without the layer the block above already fails in CI (or prints why it skipped): this one just skips.
describe.skipIf(unavailable !== null || BROKEN.length === 0)('broken builds through the layer', () => {
  it.each(BROKEN)('%s loses receipts at a cut during ingest', async (name) => {
    const build = await buildBroken(name);
    try {
      // A build that loses at every cut is cut at a random time of ingest; the others where their window is.
      const moments = BROKEN_BUILDS[name]?.certain ? ['ingest'] as const : ['on-sync', 'on-wal-sync'] as const;
      const result = await runPowerLossCycles({
        seed: SEED, cycles: BROKEN_CYCLES, lanes: LANES, maxBytes: MAX_BYTES, cutModes: ['clean'], moments, syncDelaysMs: [30],
        cli: build.cli, log: (l) => console.log(`[${name}] ${l}`),
      });
      const { final } = result;
      const damage = final.lost.length + final.corrupt.length + final.halfDone.length + (final.integrity === 'ok' ? 0 : 1);
      console.log(`powerloss broken build ${name} (${BROKEN_BUILDS[name]?.what}): seed=${SEED} cycles=${BROKEN_CYCLES} receipts=${result.receipts} ` +
        `survived=${final.survived} lost=${final.lost.length} ${JSON.stringify(lostBy(final.lost))} corrupt=${final.corrupt.length} ` +
        `half_done=${final.halfDone.length} integrity=${final.integrity} caught=${damage > 0 ? 'yes' : 'no'}`);
      if (BROKEN_BUILDS[name]?.certain) expect(damage, `${name} lost nothing`).toBeGreaterThan(0);
      // Whether or not a loss was caught, the run must have exercised the build: every cut was followed by a
      // check, receipts were acknowledged before a cut (something was in flight to lose), and the final check
      // accounted for every receipt (each one is survived, lost or corrupt).
      expect(result.reports.map((r) => r.cycle), `${name}: a check after every cut`).toEqual(Array.from({ length: BROKEN_CYCLES }, (_, i) => i));
      const ackedBeforeCut = result.reports.reduce((n, r) => n + r.receipts - r.afterCut, 0);
      expect(ackedBeforeCut, `${name}: no receipt acknowledged before a cut`).toBeGreaterThan(0);
      expect(final.survived + final.lost.length + final.corrupt.length, `${name}: the last check missed receipts`).toBeGreaterThanOrEqual(result.receipts);
    } finally {
      await build.remove();
    }
  }, 120_000 + BROKEN_CYCLES * 60_000);
});
