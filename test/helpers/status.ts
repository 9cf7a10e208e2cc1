import { newId } from '../../src/ids.js';
import type { RunningService } from '../../src/main.js';
import type { StatusReport } from '../../src/status/report.js';

/** A device id no validator admits, for checking that the page shows it as text. */
export const HOSTILE_TEXT = '<img src=x onerror=alert(1)>';

/** GET /status.json: the public view, or the full view with the admin token. */
export async function fetchStatus(baseUrl: string, adminToken?: string): Promise<StatusReport> {
  const res = await fetch(`${baseUrl}/status.json`, { headers: adminToken === undefined ? {} : { authorization: `Bearer ${adminToken}` } });
  if (res.status !== 200) throw new Error(`GET /status.json answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as StatusReport;
}

/**
 * A ledger row with a device id the HTTP validators refuse (`[A-Za-z0-9._-]{1,64}`), written through the
 * ledger as a ledger from an older release, a sqlite3 edit or a future laxer validator could hold it. Its
 * file does not exist, so the uploader marks it dead (spool_file_missing): it shows in the errors too.
 */
export function insertRowWithoutFile(service: RunningService, deviceId: string): string {
  const id = newId();
  service.ledger.insertMany([{
    id, device_id: deviceId, sha256: 'ab'.repeat(32), bytes: 1234, content_type: 'image/jpeg',
    path: `images/${id}.jpg`, s3_key: `${id}.jpg`, received_at: new Date().toISOString(),
  }]);
  service.uploader.notify();
  return id;
}
