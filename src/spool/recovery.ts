import * as nodeFs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';
import type { ImageLedger } from '../ledger/images.js';
import type { Logger } from '../log.js';
import { PART_SUFFIX } from './store.js';

/** The few file operations recovery needs; injected so unit tests can run it on an in-memory volume. */
export interface RecoveryFs {
  readdir(dir: string): Promise<string[]>;
  stat(file: string): Promise<{ size: number }>;
  unlink(file: string): Promise<void>;
}

export interface RecoveryReport {
  requeued: number;
  partsRemoved: number;
  orphansRemoved: number;
  uploadedRemoved: number;
  evictedRemoved: number;
  /** Corrupt copies left by rows that now share another copy of their bytes. */
  lostCopiesRemoved: number;
  missing: string[];
  wrongSize: string[];
}

export interface RecoveryDeps {
  ledger: ImageLedger;
  spoolDir: string;
  imagesDir: string;
  keepUploadedFiles: boolean;
  log: Logger;
  fs?: RecoveryFs;
}

/**
 * Startup recovery, before the HTTP server or uploader start. The ledger is the truth:
 * - `*.part` files were never acknowledged: delete.
 * - a file with no row was renamed but its row never committed, so never acknowledged: delete.
 * - a file of an `uploaded` row survived a crash between commit and unlink: delete (unless kept).
 * - a file of an `evicted` row survived a crash between the eviction's commit and its unlink: delete.
 * - a file of a `duplicate` row: a row that had lost its bytes (a corrupt copy) and now shares another copy of
 *   them, which survived a crash before its unlink: delete.
 * - `uploading` rows were interrupted: queue them again (the S3 key is fixed, so a resend overwrites).
 * - a queued row whose file is missing or has the wrong size is data loss: alert and mark it dead.
 */
export async function recoverSpool(deps: RecoveryDeps): Promise<RecoveryReport> {
  const fs = deps.fs ?? (nodeFs as unknown as RecoveryFs);
  const report: RecoveryReport = { requeued: deps.ledger.requeueAllUploading(), partsRemoved: 0, orphansRemoved: 0, uploadedRemoved: 0, evictedRemoved: 0, lostCopiesRemoved: 0, missing: [], wrongSize: [] };
  for (const name of await fs.readdir(deps.imagesDir)) {
    const file = path.join(deps.imagesDir, name);
    if (name.endsWith(PART_SUFFIX)) {
      await removeFile(fs, file);
      report.partsRemoved++;
      continue;
    }
    const state = deps.ledger.stateOf(name.split('.')[0] ?? name);
    if (state === undefined) {
      await removeFile(fs, file);
      report.orphansRemoved++;
    } else if (state === 'uploaded' && !deps.keepUploadedFiles) {
      await removeFile(fs, file);
      report.uploadedRemoved++;
    } else if (state === 'evicted') {
      await removeFile(fs, file);
      report.evictedRemoved++;
    } else if (state === 'duplicate') {
      await removeFile(fs, file);
      report.lostCopiesRemoved++;
    }
  }
  await checkQueuedFiles(deps, fs, report);
  deps.log.info({ recovery: report }, 'spool recovery finished');
  return report;
}

async function checkQueuedFiles(deps: RecoveryDeps, fs: RecoveryFs, report: RecoveryReport): Promise<void> {
  for (const row of deps.ledger.rowsWithLocalFiles()) {
    const size = await fileSize(fs, path.join(deps.spoolDir, row.path));
    if (size === row.bytes) continue;
    const problem = size === null ? 'spool_file_missing' : 'spool_file_corrupt';
    const detail = size === null ? `file ${row.path} is missing` : `file ${row.path} has ${size} bytes, ledger says ${row.bytes}`;
    (size === null ? report.missing : report.wrongSize).push(row.id);
    deps.ledger.markDead(row.id, 'queued', `${problem}: ${detail}`);
    deps.log.error({ id: row.id, alert: problem }, `ALERT acknowledged image cannot be uploaded: ${detail}`);
  }
}

async function fileSize(fs: RecoveryFs, file: string): Promise<number | null> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return null;
    throw err;
  }
}

async function removeFile(fs: RecoveryFs, file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}
