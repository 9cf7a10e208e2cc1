#!/usr/bin/env node
import { loadConfig } from './config.js';
import { SpoolError } from './errors.js';
import { createLogger } from './log.js';
import { UsageError } from './cli/args.js';
import type { Command } from './cli/command.js';
import { bwlimitCommand } from './cli/bwlimit.js';
import { linksCommand } from './cli/links.js';
import { migrateCommand } from './cli/migrate.js';
import { readLinkCommand } from './cli/read-link.js';
import { requeueCommand } from './cli/requeue.js';
import { statusCommand } from './cli/status.js';
import { tokensCommand } from './cli/tokens.js';
import { verifyCommand } from './cli/verify.js';

const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway (the default; configuration from environment variables, see README)',
  usage: `usage: image-spool serve

Runs the gateway: configuration from environment variables (README, "Configuration"). Applies pending
ledger migrations first. The first SIGTERM/SIGINT drains and exits 0; a second exits at once.`,
  run: async (args) => {
    if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
    return serve();
  },
};

const COMMANDS: readonly Command[] = [serveCommand, statusCommand, bwlimitCommand, requeueCommand, tokensCommand, linksCommand, readLinkCommand, verifyCommand, migrateCommand];

const USAGE = `usage: image-spool <command> [options]     (image-spool <command> --help for its options)
${COMMANDS.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join('\n')}

Configuration comes from the same environment variables as the service (SPOOL_DIR, S3_*, ...); the
running service is reached at IMAGE_SPOOL_URL, else http://127.0.0.1:$PORT, with ADMIN_TOKEN or
$SPOOL_DIR/admin.token. Exit status: 0 ok, 1 failure, 2 usage or configuration error.`;

const wantsHelp = (args: string[]): boolean => {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

async function main(argv: string[]): Promise<number> {
  const [name = 'serve', ...rest] = argv;
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = COMMANDS.find((c) => c.name === rest[0]);
    process.stdout.write(`${topic ? topic.usage : USAGE}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`image-spool: unknown command ${JSON.stringify(name)}\n${USAGE}\n`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`image-spool ${command.name}: ${err.message}\n${command.usage}\n`);
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

main(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exitCode = code;
}, (err: unknown) => {
  if (err instanceof SpoolError) console.error(`image-spool: ${err.code}: ${err.message}`);
  else console.error('image-spool: fatal:', err);
  // A configuration error is the caller's to fix, like a usage error.
  process.exit(err instanceof SpoolError && err.code === 'config_invalid' ? 2 : 1);
});
