import { adminRequest, serviceAnswers } from '../admin/client.js';
import type { StatusSnapshot } from '../admin/status.js';
import { loadConfig, type Config } from '../config.js';
import { SpoolError } from '../errors.js';
import { expectPositionals, parseArgs, UsageError } from './args.js';
import type { Command } from './command.js';
import { ledgerFile, ledgerStatus } from './ledger-status.js';
import { formatStatus } from './status-format.js';

const DEFAULT_WATCH_SECONDS = '2';
const isSeconds = (word: string): boolean => /^\d+(\.\d+)?$/.test(word);

export const statusCommand: Command = {
  name: 'status',
  summary: 'backlog, egress rate, cap, drain ETA, disk   [--json] [--watch [SECONDS]]',
  usage: `usage: image-spool status [--json] [--watch [SECONDS]]

Backlog (images, bytes, oldest waiting), egress now (bytes/s through the upload budget over the last
~5 s), the cap in force and where it comes from (override, UPLOAD_BWLIMIT, or the default), how long the
backlog takes to drain at that cap, and the spool's disk: bytes it holds, filesystem free and total.

Asks the running service (GET /admin/status at IMAGE_SPOOL_URL, else http://127.0.0.1:$PORT, with
ADMIN_TOKEN or $SPOOL_DIR/admin.token). When nothing answers there, reads $SPOOL_DIR/ledger.db read-only
(safe beside a running writer) and says the service is DOWN; egress is then null.

  --json              one JSON object (with --watch: one per line per refresh)
  --watch [SECONDS]   refresh every SECONDS (default ${DEFAULT_WATCH_SECONDS}) until Ctrl-C; on a terminal the screen is
                      redrawn, otherwise one block is printed per refresh`,
  async run(args) {
    const parsed = parseArgs(args, { json: { type: 'boolean' }, watch: { type: 'optional', fallback: DEFAULT_WATCH_SECONDS, accepts: isSeconds } });
    expectPositionals(parsed, 0, 0, '');
    const json = parsed.options['json'] === true;
    const watch = parsed.options['watch'];
    let seconds: number | null = null;
    if (typeof watch === 'string') {
      seconds = isSeconds(watch) ? Number(watch) : NaN;
      if (!(seconds >= 0.1 && seconds <= 3600)) throw new UsageError(`--watch expects seconds from 0.1 to 3600, got ${JSON.stringify(watch)}`);
    }
    const config = loadConfig();
    if (seconds === null) {
      process.stdout.write(`${render(await readStatus(config), config, json)}\n`);
      return 0;
    }
    return watchStatus(config, seconds, json);
  },
};

/** From the service when it answers, else from the ledger. */
export async function readStatus(config: Config): Promise<StatusSnapshot> {
  if (await serviceAnswers(config)) {
    try {
      const answer = await adminRequest(config, 'GET', '/admin/status');
      if (typeof answer !== 'object' || answer === null || !('backlog' in answer)) {
        throw new SpoolError('internal', `unexpected answer from ${config.serviceUrl}/admin/status (an older image-spool?)`);
      }
      return answer as StatusSnapshot;
    } catch (err) {
      // It stopped between the two requests: read the ledger as for a stopped service.
      if (!(err instanceof SpoolError && err.code === 'service_unreachable')) throw err;
    }
  }
  return ledgerStatus(config);
}

function render(s: StatusSnapshot, config: Config, json: boolean): string {
  if (json) return JSON.stringify(s);
  return formatStatus(s, s.service === 'up' ? config.serviceUrl : `nothing answers at ${config.serviceUrl}; read from ${ledgerFile(config)}`);
}

/** Redraws until SIGINT/SIGTERM, then exits 0. A failed refresh is reported and the next one tried. */
async function watchStatus(config: Config, seconds: number, json: boolean): Promise<number> {
  const redraw = process.stdout.isTTY === true && !json;
  let stopped = false;
  let wake: () => void = () => undefined;
  const stop = (): void => {
    stopped = true;
    wake();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    while (!stopped) {
      let text: string;
      try {
        text = render(await readStatus(config), config, json);
      } catch (err) {
        text = '';
        process.stderr.write(`image-spool status: ${err instanceof SpoolError ? `${err.code}: ` : ''}${(err as Error).message}\n`);
      }
      if (text !== '' && !stopped) {
        // Home + clear screen, then the block: a terminal shows one block in place.
        if (redraw) process.stdout.write(`\x1b[H\x1b[2J${text}\n\nrefreshing every ${seconds}s; Ctrl-C to stop\n`);
        else process.stdout.write(json ? `${text}\n` : `${text}\n\n`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, seconds * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (stopped) wake();
      });
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}
