import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { DeviceTokens } from '../devices/tokens.js';
import { SpoolError } from '../errors.js';
import { DEVICE_ID_PATTERN } from '../http/limits.js';
import { migrate } from '../ledger/migrate.js';
import { openLedger } from '../ledger/open.js';
import { expectPositionals, parseArgs, stringOption, UsageError } from './args.js';
import type { Command } from './command.js';
import { ledgerFile } from './ledger-status.js';

export const tokensCommand: Command = {
  name: 'tokens',
  summary: 'device tokens (DEVICE_AUTH=token): add DEVICE_ID | revoke TOKEN_ID|--device DEVICE_ID | list [--json]',
  usage: `usage: image-spool tokens add DEVICE_ID
       image-spool tokens revoke TOKEN_ID
       image-spool tokens revoke --device DEVICE_ID
       image-spool tokens list [--json]

Device tokens live in $SPOOL_DIR/ledger.db; this edits it directly (WAL makes that safe while the service
runs, and the service sees a change at the next request).
  add     creates a token for DEVICE_ID and prints it once: only its SHA-256 is stored
  revoke  revokes one token, or every token of a device; exit status 1 when nothing was revoked
  list    token ids, devices, created and revoked times (never the tokens)`,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub !== 'add' && sub !== 'revoke' && sub !== 'list') {
      throw new UsageError(sub === undefined ? 'missing subcommand: add, revoke or list' : `unknown subcommand ${JSON.stringify(sub)}: add, revoke or list`);
    }
    const parsed = parseArgs(rest, sub === 'list' ? { json: { type: 'boolean' } } : sub === 'revoke' ? { device: { type: 'string' } } : {});
    const device = stringOption(parsed, 'device');
    // add: DEVICE_ID; revoke: TOKEN_ID or --device DEVICE_ID; list: nothing.
    const wanted = sub === 'add' || (sub === 'revoke' && device === undefined) ? 1 : 0;
    const positionals = expectPositionals(parsed, wanted, wanted, sub === 'add' ? 'DEVICE_ID' : 'TOKEN_ID or --device DEVICE_ID');
    const config = loadConfig();
    const file = ledgerFile(config);
    if (!existsSync(file)) throw new SpoolError('ledger_unavailable', `no ledger at ${file}; start the service once, or set SPOOL_DIR`);
    const db = openLedger(file);
    try {
      migrate(db);
      const tokens = new DeviceTokens(db);
      if (sub === 'add') {
        const deviceId = positionals[0] as string;
        if (!DEVICE_ID_PATTERN.test(deviceId)) throw new UsageError(`device_id ${JSON.stringify(deviceId)} must match ${DEVICE_ID_PATTERN.source}`);
        const { token, token_id } = tokens.add(deviceId);
        process.stdout.write(`token_id ${token_id} for device ${deviceId}\n${token}\n(shown once: only its SHA-256 is stored)\n`);
        return 0;
      }
      if (sub === 'revoke') {
        const n = device !== undefined ? tokens.revoke({ deviceId: device }) : tokens.revoke({ tokenId: positionals[0] as string });
        process.stdout.write(`revoked ${n}\n`);
        return n > 0 ? 0 : 1;
      }
      const list = tokens.list();
      if (parsed.options['json'] === true) process.stdout.write(`${JSON.stringify(list)}\n`);
      else for (const t of list) process.stdout.write(`${t.token_id}  ${t.device_id}  created ${t.created_at}${t.revoked_at ? `  revoked ${t.revoked_at}` : ''}\n`);
      return 0;
    } finally {
      db.close();
    }
  },
};
