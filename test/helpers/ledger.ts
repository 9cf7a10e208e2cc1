import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../../src/ledger/migrate.js';
import { openLedger, type Db } from '../../src/ledger/open.js';
import type { NewImage } from '../../src/ledger/types.js';

/** A row as ingest would insert it for device cam-1, its SHA-256 derived from the id (so distinct ids never dedup). */
export function newImage(id: string, receivedAt = new Date()): NewImage {
  return { id, device_id: 'cam-1', sha256: createHash('sha256').update(id).digest('hex'), bytes: 10, content_type: 'image/jpeg', path: `images/${id}.jpg`, s3_key: `cam-1/${id}.jpg`, received_at: receivedAt.toISOString() };
}

export interface TempLedger {
  /** The temporary directory; other ledger files a test opens belong here too. */
  dir: string;
  /** `ledger.db` in it, migrated to the current schema. */
  db: Db;
  /** Closes the ledger and deletes the directory. */
  remove(): void;
}

export function tempLedger(prefix: string): TempLedger {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const db = openLedger(path.join(dir, 'ledger.db'));
  migrate(db);
  return {
    dir,
    db,
    remove: () => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
