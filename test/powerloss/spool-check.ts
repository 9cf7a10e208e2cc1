import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { TestS3 } from '../helpers/s3.js';

/** A 202 receipt as the device got it. */
export interface Receipt {
  id: string;
  sha256: string;
  bytes: number;
  /** The cycle whose load got it, and how it was sent. */
  cycle: number;
  via: 'multipart' | 'json' | 'link';
}

interface Row {
  id: string;
  sha256: string;
  bytes: number;
  path: string | null;
  s3_key: string;
  state: string;
  last_error: string | null;
}

export interface SpoolCheck {
  /** Receipts found either uploaded (S3 object with their bytes) or queued (spool file with their bytes). */
  survived: number;
  uploaded: number;
  queued: number;
  /** Receipts with no row, a dead row, or no file or object where the row says it is. */
  lost: string[];
  /** Bytes or row fields that differ from the receipt (or from the row, for a row without a receipt). */
  corrupt: string[];
  /** Leftovers recovery should have removed or never allowed: `.part` files, files without rows, dead rows. */
  halfDone: string[];
  integrity: string;
  rows: number;
}

async function sha256File(file: string): Promise<string | null> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return hash.digest('hex');
}

/**
 * Checks a spool after a power cut, once the restarted service has run its recovery (the service may be
 * uploading meanwhile: a queued file that disappears is looked up again as uploaded). Objects already
 * verified in S3 (outside the layer, so they cannot change) are not fetched again: pass the same `verified`.
 */
export async function checkSpool(spoolDir: string, s3: TestS3, receipts: Iterable<Receipt>, verified: Set<string>): Promise<SpoolCheck> {
  const ledger = path.join(spoolDir, 'ledger.db');
  const read = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(ledger, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      return fn(db);
    } finally {
      db.close();
    }
  };
  const columns = 'id, sha256, bytes, path, s3_key, state, last_error';
  const [integrity, all] = read((db) => [
    String(db.pragma('integrity_check', { simple: true })),
    db.prepare(`SELECT ${columns} FROM images`).all() as Row[],
  ] as const);
  const rowOf = (id: string): Row | undefined => read((db) => db.prepare(`SELECT ${columns} FROM images WHERE id = ?`).get(id) as Row | undefined);
  const result: SpoolCheck = { survived: 0, uploaded: 0, queued: 0, lost: [], corrupt: [], halfDone: [], integrity, rows: all.length };

  /** 'uploaded' | 'queued' when the bytes are where the row says, else a description of what is wrong. */
  const locate = async (first: Row): Promise<{ at: 'uploaded' | 'queued' } | { lost: string } | { corrupt: string }> => {
    let row: Row | undefined = first;
    for (let attempt = 0; attempt < 2 && row; attempt++) {
      if (row.state === 'uploaded') {
        if (verified.has(row.id)) return { at: 'uploaded' };
        let body: Buffer;
        try {
          body = await s3.getBytes(row.s3_key);
        } catch (err) {
          return { lost: `uploaded, but no object at ${row.s3_key} (${(err as Error).name})` };
        }
        const sha = createHash('sha256').update(body).digest('hex');
        if (sha !== row.sha256 || body.length !== row.bytes) return { corrupt: `object ${row.s3_key}: ${body.length} bytes sha256 ${sha}` };
        verified.add(row.id);
        return { at: 'uploaded' };
      }
      if ((row.state === 'queued' || row.state === 'uploading') && row.path !== null) {
        const sha = await sha256File(path.join(spoolDir, row.path));
        if (sha === row.sha256) return { at: 'queued' };
        if (sha !== null) return { corrupt: `file ${row.path}: sha256 ${sha}` };
        row = rowOf(row.id); // uploaded (and its file deleted) since it was read?
        continue;
      }
      return { lost: `state ${row.state} (${row.last_error ?? '-'})` };
    }
    return { lost: `state ${row?.state ?? 'gone'}, file missing` };
  };

  const byId = new Map(all.map((r) => [r.id, r]));
  const receipted = new Set<string>();
  for (const r of receipts) {
    receipted.add(r.id);
    const row = byId.get(r.id);
    if (!row) {
      result.lost.push(`${r.id} (cycle ${r.cycle}, ${r.via}): no ledger row`);
      continue;
    }
    if (row.sha256 !== r.sha256 || row.bytes !== r.bytes) {
      result.corrupt.push(`${r.id}: row says ${row.bytes} bytes sha256 ${row.sha256}, receipt ${r.bytes} ${r.sha256}`);
      continue;
    }
    const found = await locate(row);
    if ('at' in found) {
      result.survived++;
      result[found.at]++;
    } else if ('lost' in found) result.lost.push(`${r.id} (cycle ${r.cycle}, ${r.via}): ${found.lost}`);
    else result.corrupt.push(`${r.id} (cycle ${r.cycle}, ${r.via}): ${found.corrupt}`);
  }
  // Rows nobody got a receipt for (committed, then cut before the answer) must be whole too.
  for (const row of all) {
    if (receipted.has(row.id)) continue;
    const found = await locate(row);
    if ('lost' in found) result.halfDone.push(`${row.id} (no receipt): ${found.lost}`);
    else if ('corrupt' in found) result.corrupt.push(`${row.id} (no receipt): ${found.corrupt}`);
  }
  for (const name of await readdir(path.join(spoolDir, 'images')).catch(() => [] as string[])) {
    if (name.endsWith('.part')) result.halfDone.push(`images/${name}: temp file left after recovery`);
    else if (!byId.has(name.split('.')[0] ?? name)) result.halfDone.push(`images/${name}: file without a row`);
  }
  return result;
}
