import { adminRequest } from '../admin/client.js';
import { loadConfig } from '../config.js';
import { expectPositionals, parseArgs, UsageError } from './args.js';
import type { Command } from './command.js';
import type { BandwidthState } from '../throttle/bandwidth-controller.js';

function formatBudget(s: BandwidthState): string {
  const from = s.source === 'override' ? `override ${JSON.stringify(s.override)}` : `schedule ${JSON.stringify(s.schedule)} (UPLOAD_BWLIMIT)`;
  const lines = [`cap      ${s.rate} from ${from}`];
  if (s.limited_by !== 'cap') lines.push(`limited  by ${s.limited_by} (configured ${s.configured_rate_bytes_per_sec ?? 'unlimited'} bytes/s)`);
  return `${lines.join('\n')}\n`;
}

export const bwlimitCommand: Command = {
  name: 'bwlimit',
  summary: 'show the upload budget; RATE overrides it now (survives restarts); --clear returns to UPLOAD_BWLIMIT',
  usage: `usage: image-spool bwlimit [--json]         show the running service's upload budget
       image-spool bwlimit RATE [--json]    override it now, e.g. 20Mbit, 5MB, 512KiB, off; kept across restarts
       image-spool bwlimit --clear [--json] drop the override: back to the UPLOAD_BWLIMIT schedule

Through the admin API (GET/PUT /admin/bwlimit); prints the state the service answers, one JSON object
with --json.`,
  async run(args) {
    const parsed = parseArgs(args, { clear: { type: 'boolean' }, json: { type: 'boolean' } });
    const [rate] = expectPositionals(parsed, 0, 1, 'RATE');
    const clear = parsed.options['clear'] === true;
    if (clear && rate !== undefined) throw new UsageError('give a RATE or --clear, not both');
    const config = loadConfig();
    const state = rate === undefined && !clear
      ? await adminRequest(config, 'GET', '/admin/bwlimit')
      : await adminRequest(config, 'PUT', '/admin/bwlimit', { rate: clear ? null : rate });
    process.stdout.write(parsed.options['json'] === true ? `${JSON.stringify(state)}\n` : formatBudget(state as BandwidthState));
    return 0;
  },
};
