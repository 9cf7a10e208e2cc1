import { access } from 'node:fs/promises';
import type { RequeueRequest, RequeueResult } from '../api/schemas/admin.js';
import type { ImageLedger } from '../ledger/images.js';
import type { SpoolStore } from '../spool/store.js';

/**
 * Dead images go back to the queue with a fresh attempt count. One whose file is gone cannot be uploaded
 * again (it would only die again): it is skipped with the reason, as are ids that are unknown or not dead.
 */
export async function requeue(request: RequeueRequest, ledger: ImageLedger, store: SpoolStore): Promise<RequeueResult> {
  const result: RequeueResult = { requeued: [], skipped: [] };
  const rows = 'state' in request ? ledger.deadRows() : request.ids.map((id) => ledger.get(id) ?? { id, path: '', state: undefined });
  for (const row of rows) {
    if (row.state !== 'dead') {
      result.skipped.push({ id: row.id, reason: skipReason(row) });
      continue;
    }
    if (!(await fileExists(store.absolutePath(row.path)))) {
      result.skipped.push({ id: row.id, reason: 'its spooled file is gone' });
      continue;
    }
    if (ledger.requeueDead(row.id, new Date())) result.requeued.push(row.id);
    else result.skipped.push({ id: row.id, reason: 'changed state meanwhile' });
  }
  return result;
}

function skipReason(row: { state: string | undefined; duplicate_of?: string | null }): string {
  if (row.state === undefined) return 'no such image';
  // Its bytes, and so its upload, are the original's: requeueing that one serves every receipt.
  if (row.duplicate_of) return `a duplicate of ${row.duplicate_of}: requeue that image`;
  return `state is ${row.state}, not dead`;
}

async function fileExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
