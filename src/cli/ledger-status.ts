import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildStatus, filesystemSpace, ledgerFiles, type StatusSnapshot } from '../admin/status.js';
import type { Config } from '../config.js';
import { SpoolError } from '../errors.js';
import { ImageLedger } from '../ledger/images.js';
import { loadMigrations } from '../ledger/migrate.js';
import { openLedger } from '../ledger/open.js';
import { schemaStatus } from '../ledger/schema-status.js';
import { SettingsStore } from '../ledger/settings.js';
import { effectiveRate, OVERRIDE_KEY } from '../throttle/bandwidth-controller.js';

export function ledgerFile(config: Pick<Config, 'spoolDir'>): string {
  return path.join(config.spoolDir, 'ledger.db');
}

/**
 * The status of a stopped service, read from its ledger on a read-only connection (WAL lets it read
 * beside a writer, so a service starting meanwhile is not disturbed). No egress: nothing is uploading.
 */
export async function ledgerStatus(config: Config, now = new Date()): Promise<StatusSnapshot> {
  const file = ledgerFile(config);
  if (!existsSync(file)) {
    throw new SpoolError('service_unreachable', `nothing answers at ${config.serviceUrl} (IMAGE_SPOOL_URL or PORT) and there is no ledger at ${file} (SPOOL_DIR)`);
  }
  const db = openLedger(file, { readonly: true });
  try {
    const override = new SettingsStore(db).get(OVERRIDE_KEY) ?? null;
    const rate = effectiveRate(config.uploadSchedule, override, now);
    const ledger = new ImageLedger(db);
    return buildStatus({
      service: 'down', now, rate, override,
      summary: ledger.summary(),
      configuredRate: rate,
      limitedBy: 'cap',
      schedule: config.uploadSchedule.text,
      egressBytesPerSec: null,
      spoolBytes: ledger.localBytes(config.keepUploadedFiles),
      spoolMaxBytes: config.spoolMaxBytes,
      disk: await filesystemSpace(config.spoolDir),
      ledger: await ledgerFiles(file, config.ledgerWalMaxBytes, null),
    });
  } catch (err) {
    if (err instanceof SpoolError) throw err;
    // The likeliest reason a query fails here: a ledger from an older release, not migrated yet.
    const schema = schemaStatus(db, loadMigrations());
    const hint = schema.current !== schema.known ? ` (ledger schema ${schema.current}, this build ${schema.known}: \`image-spool migrate\`, or start the service, which migrates)` : '';
    throw new SpoolError('ledger_unavailable', `cannot read ${file}: ${(err as Error).message}${hint}`, { cause: err });
  } finally {
    db.close();
  }
}
