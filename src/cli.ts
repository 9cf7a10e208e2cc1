#!/usr/bin/env node
import { existsSync } from 'node:fs';
import path from 'node:path';
import { adminRequest } from './admin/client.js';
import { loadConfig } from './config.js';
import { SpoolError } from './errors.js';
import { ImageLedger } from './ledger/images.js';
import { openLedger } from './ledger/open.js';
import { SettingsStore } from './ledger/settings.js';
import { backlogReport, effectiveRate, OVERRIDE_KEY } from './throttle/bandwidth-controller.js';
import { formatRate } from './throttle/rate.js';
import { createLogger } from './log.js';
import { DeviceTokens } from './devices/tokens.js';
import { DEVICE_ID_PATTERN } from './http/multipart.js';
import { migrate } from './ledger/migrate.js';

const USAGE = `usage: image-spool <command>
  serve            run the gateway (configuration from environment variables; see README)
  status [--json]  backlog summary read straight from $SPOOL_DIR/ledger.db (safe while the service runs)
  bwlimit          show the upload budget of the running service
  bwlimit RATE     override it now (e.g. 20Mbit, 5MB, off); survives restarts
  bwlimit --clear  return to the UPLOAD_BWLIMIT schedule
  requeue --dead   put every dead image back in the queue (running service)
  requeue ID...    put these dead images back in the queue
  tokens add DEVICE_ID            create a device token (DEVICE_AUTH=token); printed once, stored hashed
  tokens revoke TOKEN_ID|--device DEVICE_ID
  tokens list [--json]            token ids, devices, created/revoked (never the tokens)`;

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve();
    case 'status':
      return status(rest.includes('--json'));
    case 'bwlimit':
      return bwlimit(rest[0]);
    case 'requeue':
      return requeueCommand(rest);
    case 'tokens':
      return tokensCommand(rest);
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
      return 2;
  }
}

async function serve(): Promise<number> {
  const config = loadConfig();
  const log = createLogger(config.logLevel);
  const { startService } = await import('./main.js');
  const service = await startService(config, log);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now; unfinished uploads resume at next start');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    service.stop().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return new Promise<number>(() => undefined); // runs until a signal
}

async function bwlimit(arg: string | undefined): Promise<number> {
  const config = loadConfig();
  const state = arg === undefined
    ? await adminRequest(config, 'GET', '/admin/bwlimit')
    : await adminRequest(config, 'PUT', '/admin/bwlimit', { rate: arg === '--clear' ? null : arg });
  console.log(JSON.stringify(state, null, 2));
  return 0;
}

function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${seconds % 60}s` : `${seconds}s`;
}

async function requeueCommand(args: string[]): Promise<number> {
  if (args.length === 0) {
    console.error(`image-spool requeue: name the images (IDs) or --dead\n${USAGE}`);
    return 2;
  }
  const body = args.includes('--dead') ? { state: 'dead' } : { ids: args };
  const result = (await adminRequest(loadConfig(), 'POST', '/admin/requeue', body)) as { requeued: string[]; skipped: Array<{ id: string; reason: string }> };
  console.log(`requeued ${result.requeued.length}${result.skipped.length ? `, skipped ${result.skipped.length}:` : ''}`);
  for (const s of result.skipped) console.log(`  ${s.id}: ${s.reason}`);
  return 0;
}

/** Device tokens live in the ledger: the CLI edits it directly (WAL makes that safe while the service runs). */
function tokensCommand(args: string[]): number {
  const [sub, ...rest] = args;
  const config = loadConfig();
  const file = path.join(config.spoolDir, 'ledger.db');
  if (!existsSync(file)) throw new SpoolError('ledger_unavailable', `no ledger at ${file}; start the service once, or set SPOOL_DIR`);
  const db = openLedger(file);
  try {
    migrate(db);
    const tokens = new DeviceTokens(db);
    if (sub === 'add' && rest[0] !== undefined) {
      if (!DEVICE_ID_PATTERN.test(rest[0])) throw new SpoolError('invalid_device_id', `device_id ${JSON.stringify(rest[0])} must match ${DEVICE_ID_PATTERN.source}`);
      const { token, token_id } = tokens.add(rest[0]);
      console.log(`token_id ${token_id} for device ${rest[0]}\n${token}\n(shown once: only its SHA-256 is stored)`);
      return 0;
    }
    if (sub === 'revoke' && rest[0] !== undefined) {
      const n = rest[0] === '--device' && rest[1] !== undefined ? tokens.revoke({ deviceId: rest[1] }) : tokens.revoke({ tokenId: rest[0] });
      console.log(`revoked ${n}`);
      return n > 0 ? 0 : 1;
    }
    if (sub === 'list') {
      const list = tokens.list();
      if (rest.includes('--json')) console.log(JSON.stringify(list));
      else for (const t of list) console.log(`${t.token_id}  ${t.device_id}  created ${t.created_at}${t.revoked_at ? `  revoked ${t.revoked_at}` : ''}`);
      return 0;
    }
    console.error(USAGE);
    return 2;
  } finally {
    db.close();
  }
}

function status(json: boolean): number {
  const config = loadConfig();
  const file = path.join(config.spoolDir, 'ledger.db');
  if (!existsSync(file)) throw new SpoolError('ledger_unavailable', `no ledger at ${file}; is SPOOL_DIR right?`);
  const db = openLedger(file, { readonly: true });
  try {
    // The same rule the service applies: a stored override wins over the timetable.
    const override = new SettingsStore(db).get(OVERRIDE_KEY) ?? null;
    const rate = effectiveRate(config.uploadSchedule, override, new Date());
    const report = backlogReport(new ImageLedger(db).summary(), rate);
    if (json) console.log(JSON.stringify({ ...report, uplink_share: config.uplinkShare }));
    else {
      const eta = report.drain_eta_seconds;
      console.log(`queued ${report.queued}  uploading ${report.uploading}  uploaded ${report.uploaded}  dead ${report.dead}  evicted ${report.evicted}`);
      console.log(`backlog ${(report.backlog_bytes / 1e6).toFixed(1)} MB, oldest waiting since ${report.oldest_queued_at ?? '-'}`);
      console.log(`budget ${formatRate(rate)}${override === null ? '' : ' (override)'}, drains in ${eta === null ? 'unknown (no limit)' : formatDuration(eta)}`);
      // The capacity estimate lives in the running service, not in the ledger.
      if (config.uplinkShare !== null) console.log(`UPLINK_SHARE=${config.uplinkShare * 100}%: the service may use less; \`image-spool bwlimit\` shows its live estimate`);
    }
    return 0;
  } finally {
    db.close();
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exitCode = code;
}, (err: unknown) => {
  if (err instanceof SpoolError) console.error(`image-spool: ${err.code}: ${err.message}`);
  else console.error('image-spool: fatal:', err);
  process.exit(1);
});
