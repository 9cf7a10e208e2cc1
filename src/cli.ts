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
import { packageVersion } from './version.js';

const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway (the default; configuration from environment variables, see docs/CONFIG.md)',
  usage: `usage: image-spool serve

Runs the gateway: configuration from environment variables (docs/CONFIG.md). Applies pending
ledger migrations first. The first SIGTERM/SIGINT drains and exits 0; a second exits at once.`,
  run: async (args) => {
    if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
    return serve();
  },
};

const COMMANDS: readonly Command[] = [serveCommand, statusCommand, bwlimitCommand, requeueCommand, tokensCommand, linksCommand, readLinkCommand, verifyCommand, migrateCommand];

const USAGE = `usage: image-spool <command> [options]     (image-spool <command> --help for its options)
${COMMANDS.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join('\n')}

Configuration comes from the same environment variables as the service (SPOOL_DIR, S3_*, ...). The running
service is reached at --url or IMAGE_SPOOL_URL, else http://127.0.0.1:$PORT when PORT is set, else at the
address the service wrote into its spool (SPOOL_DIR, or --spool DIR), with ADMIN_TOKEN or the spool's
admin.token. Every command takes --url URL and --spool DIR.
  image-spool --version     prints the version
Exit status: 0 ok, 1 failure, 2 usage or configuration error.`;

/**
 * `--url URL` and `--spool DIR` mean the same to every command, so they are taken here, before the command's
 * own options, and handed on as the variables the configuration reads (a flag beats the environment).
 */
function takeLocationFlags(args: string[]): string[] {
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    if (word === '--') {
      rest.push(...args.slice(i));
      break;
    }
    const m = /^--(url|spool)(?:=(.*))?$/.exec(word);
    if (!m) {
      rest.push(word);
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined || value === '') throw new UsageError(`--${m[1]} needs a value`);
    process.env[m[1] === 'url' ? 'IMAGE_SPOOL_URL' : 'SPOOL_DIR'] = value;
  }
  return rest;
}

const wantsHelp = (args: string[]): boolean => {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
};

async function main(argv: string[]): Promise<number> {
  const [name = 'serve', ...given] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`image-spool ${packageVersion()}\n`);
    return 0;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    const topic = COMMANDS.find((c) => c.name === given[0]);
    process.stdout.write(`${topic ? topic.usage : USAGE}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`image-spool: unknown command ${JSON.stringify(name)}\n${USAGE}\n`);
    return 2;
  }
  if (wantsHelp(given)) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(takeLocationFlags(given));
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
