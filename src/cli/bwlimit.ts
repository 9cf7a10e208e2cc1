import { adminRequest } from '../admin/client.js';
import { loadConfig } from '../config.js';
import { expectPositionals, parseArgs, UsageError } from './args.js';
import type { Command } from './command.js';

export const bwlimitCommand: Command = {
  name: 'bwlimit',
  summary: 'show the upload budget; RATE overrides it now (survives restarts); --clear returns to UPLOAD_BWLIMIT',
  usage: `usage: image-spool bwlimit                show the running service's upload budget (JSON)
       image-spool bwlimit RATE           override it now, e.g. 20Mbit, 5MB, 512KiB, off; kept across restarts
       image-spool bwlimit --clear        drop the override: back to the UPLOAD_BWLIMIT schedule

Through the admin API (GET/PUT /admin/bwlimit); prints the state the service answers.`,
  async run(args) {
    const parsed = parseArgs(args, { clear: { type: 'boolean' } });
    const [rate] = expectPositionals(parsed, 0, 1, 'RATE');
    const clear = parsed.options['clear'] === true;
    if (clear && rate !== undefined) throw new UsageError('give a RATE or --clear, not both');
    const config = loadConfig();
    const state = rate === undefined && !clear
      ? await adminRequest(config, 'GET', '/admin/bwlimit')
      : await adminRequest(config, 'PUT', '/admin/bwlimit', { rate: clear ? null : rate });
    process.stdout.write(`${JSON.stringify(state, null, 2)}\n`);
    return 0;
  },
};
