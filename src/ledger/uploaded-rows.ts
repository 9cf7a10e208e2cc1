import type { Db } from './open.js';

/** What verifying an uploaded image needs. `s3_key` is set on every `uploaded` row. */
export interface UploadedRow {
  id: string;
  s3_key: string;
  bytes: number;
  sha256: string;
  uploaded_at: string | null;
}

export interface UploadedRowsOptions {
  /** Only rows with `uploaded_at` at or after this ISO time. */
  since?: string | null;
  /** Stop after this many rows. */
  limit?: number;
  /** Rows read per query. @default 500 */
  pageSize?: number;
}

/**
 * `+state` keeps SQLite off the (state, received_at, id) index: with it, every page sorted all uploaded
 * rows in a temporary B-tree (measured: 165 s for 950,000 rows, against 2.2 s walking the primary key).
 */
export const UPLOADED_PAGE_SQL = `SELECT id, s3_key, bytes, sha256, uploaded_at FROM images
  WHERE +state = 'uploaded' AND id > @after AND (@since IS NULL OR uploaded_at >= @since)
  ORDER BY id LIMIT @limit`;

/**
 * Every `uploaded` row in id order, read a page at a time (keyset paging on the primary key), so a
 * million rows never sit in memory and no read transaction stays open between pages to hold up WAL
 * checkpoints. Only `state = 'uploaded'`: rows in other states have no object of their own.
 */
export function* uploadedRows(db: Db, options: UploadedRowsOptions = {}): Generator<UploadedRow> {
  const page = db.prepare(UPLOADED_PAGE_SQL);
  const pageSize = options.pageSize ?? 500;
  let left = options.limit ?? Infinity;
  let after = '';
  while (left > 0) {
    const rows = page.all({ after, since: options.since ?? null, limit: Math.min(pageSize, left) }) as UploadedRow[];
    for (const row of rows) yield row;
    if (rows.length < Math.min(pageSize, left)) return;
    left -= rows.length;
    after = (rows.at(-1) as UploadedRow).id;
  }
}
