import { adminRequest } from '../admin/client.js';
import { loadConfig } from '../config.js';
import { parseArgs, UsageError } from './args.js';
import type { Command } from './command.js';

export const requeueCommand: Command = {
  name: 'requeue',
  summary: 'put dead images back in the queue: --dead (all) or ID...',
  usage: `usage: image-spool requeue --dead [--json]
       image-spool requeue ID... [--json]

Dead images go back to the queue with a fresh attempt count (POST /admin/requeue on the running
service). Ids that are unknown, not dead, or whose file is gone are skipped with the reason. --json prints
the service's answer, {"requeued": [ids], "skipped": [{"id", "reason"}]}, as one object.`,
  async run(args) {
    const parsed = parseArgs(args, { dead: { type: 'boolean' }, json: { type: 'boolean' } });
    const dead = parsed.options['dead'] === true;
    if (dead && parsed.positionals.length > 0) throw new UsageError('give --dead or image IDs, not both');
    if (!dead && parsed.positionals.length === 0) throw new UsageError('name the images (ID...) or give --dead');
    const body = dead ? { state: 'dead' } : { ids: parsed.positionals };
    const result = (await adminRequest(loadConfig(), 'POST', '/admin/requeue', body)) as { requeued: string[]; skipped: Array<{ id: string; reason: string }> };
    if (parsed.options['json'] === true) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    process.stdout.write(`requeued ${result.requeued.length}${result.skipped.length ? `, skipped ${result.skipped.length}:` : ''}\n`);
    for (const s of result.skipped) process.stdout.write(`  ${s.id}: ${s.reason}\n`);
    return 0;
  },
};
