import type { UploadedRow } from '../ledger/uploaded-rows.js';
import type { Finding } from '../s3/verify-object.js';

export type FindingKind = Finding['kind'];

export interface VerifySummary {
  checked: number;
  ok: number;
  missing: number;
  size_mismatch: number;
  checksum_mismatch: number;
  checksum_missing: number;
  error: number;
}

export interface VerifyRunOptions {
  /** Checks in flight at once. */
  concurrency: number;
  /** Tries per object when the answer is an error (not a difference). @default 3 */
  attempts?: number;
  /** Wait before retry n (1-based). @default 250 ms x 4^(n-1) */
  retryDelayMs?: (n: number) => number;
  onFinding: (finding: Finding) => void;
}

/**
 * Runs `check` over every row with at most `concurrency` in flight. Workers pull rows from the one
 * iterator as they free up, so rows are read from the ledger only as fast as they are checked.
 */
export async function verifyRows(rows: Iterator<UploadedRow>, check: (row: UploadedRow) => Promise<Finding | null>, options: VerifyRunOptions): Promise<VerifySummary> {
  const summary: VerifySummary = { checked: 0, ok: 0, missing: 0, size_mismatch: 0, checksum_mismatch: 0, checksum_missing: 0, error: 0 };
  const attempts = options.attempts ?? 3;
  const delay = options.retryDelayMs ?? ((n: number) => 250 * 4 ** (n - 1));
  const worker = async (): Promise<void> => {
    for (let next = rows.next(); !next.done; next = rows.next()) {
      let finding = await check(next.value);
      for (let n = 1; n < attempts && finding?.kind === 'error'; n++) {
        await new Promise((resolve) => setTimeout(resolve, delay(n)));
        finding = await check(next.value);
      }
      summary.checked++;
      if (finding === null) summary.ok++;
      else {
        summary[finding.kind]++;
        options.onFinding(finding);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return summary;
}

/** Differences: the bucket does not hold what the ledger says. Errors are reported apart (unchecked, not wrong). */
export function differences(s: VerifySummary): number {
  return s.missing + s.size_mismatch + s.checksum_mismatch + s.checksum_missing;
}
