import { adminRequest } from '../admin/client.js';
import { loadConfig } from '../config.js';
import { expectPositionals, intOption, parseArgs, stringOption, UsageError } from './args.js';
import type { Command } from './command.js';

interface CreatedLink {
  url: string;
  token_id: string;
  expires_at: string;
  max_uploads: number | null;
  device_id: string | null;
}

interface LinkView {
  token_id: string;
  device_id: string | null;
  max_uploads: number | null;
  uploads_used: number;
  expires_at: string;
  state: string;
}

const USAGE = `usage: image-spool links create [--expires-in 48h] [--max-uploads N] [--device-id D] [--json]
       image-spool links revoke TOKEN_ID [--json]
       image-spool links list [--json]

Upload links through the running service's admin API (POST/GET /admin/links, DELETE /admin/links/TOKEN_ID).

  create   prints the URL (shown once: only its hash is stored), token_id and expires_at.
           --expires-in  90s, 30m, 48h, 7d or whole seconds, at most 30 days (default 48h)
           --max-uploads images the link may store, 1-10000 (default: no limit until it expires)
           --device-id   store every image as this device (default: the form's device_id)
           The URL's host is the one this CLI reached the service by: set IMAGE_SPOOL_URL to the
           gateway's LAN name (e.g. http://gateway:4000) to hand out a URL that works from elsewhere.
  revoke   ends a link at once; uploads through it answer 410 link_revoked.
  list     every link with its state (active, expired, used_up, revoked); never the secret.`;

export const linksCommand: Command = {
  name: 'links',
  summary: 'upload links: create [--expires-in 48h] [--max-uploads N] [--device-id D] | revoke TOKEN_ID | list',
  usage: USAGE,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'create') return create(rest);
    if (sub === 'revoke') return revoke(rest);
    if (sub === 'list') return list(rest);
    throw new UsageError(sub === undefined ? 'missing subcommand: create, revoke or list' : `unknown subcommand ${JSON.stringify(sub)}: create, revoke or list`);
  },
};

async function create(args: string[]): Promise<number> {
  const parsed = parseArgs(args, {
    'expires-in': { type: 'string' }, 'max-uploads': { type: 'string' }, 'device-id': { type: 'string' }, json: { type: 'boolean' },
  });
  expectPositionals(parsed, 0, 0, '');
  const maxUploads = intOption(parsed, 'max-uploads', 1, 10_000);
  const deviceId = stringOption(parsed, 'device-id');
  const body = {
    expires_in: stringOption(parsed, 'expires-in') ?? '48h',
    ...(maxUploads === undefined ? {} : { max_uploads: maxUploads }),
    ...(deviceId === undefined ? {} : { device_id: deviceId }),
  };
  const link = (await adminRequest(loadConfig(), 'POST', '/admin/links', body)) as CreatedLink;
  if (parsed.options['json'] === true) {
    process.stdout.write(`${JSON.stringify(link)}\n`);
  } else {
    process.stdout.write([
      `url          ${link.url}`,
      `token_id     ${link.token_id}`,
      `expires_at   ${link.expires_at}`,
      `max_uploads  ${link.max_uploads ?? 'no limit'}`,
      `device_id    ${link.device_id ?? '(named by each upload form)'}`,
      '(the URL is shown once: only its hash is stored; revoke with `image-spool links revoke TOKEN_ID`)',
    ].join('\n') + '\n');
  }
  return 0;
}

async function revoke(args: string[]): Promise<number> {
  const parsed = parseArgs(args, { json: { type: 'boolean' } });
  const [tokenId] = expectPositionals(parsed, 1, 1, 'TOKEN_ID');
  const link = (await adminRequest(loadConfig(), 'DELETE', `/admin/links/${encodeURIComponent(tokenId as string)}`)) as LinkView;
  process.stdout.write(parsed.options['json'] === true ? `${JSON.stringify(link)}\n` : `revoked ${link.token_id} (${link.uploads_used} uploads used)\n`);
  return 0;
}

async function list(args: string[]): Promise<number> {
  const parsed = parseArgs(args, { json: { type: 'boolean' } });
  expectPositionals(parsed, 0, 0, '');
  const { links } = (await adminRequest(loadConfig(), 'GET', '/admin/links')) as { links: LinkView[] };
  if (parsed.options['json'] === true) {
    process.stdout.write(`${JSON.stringify(links)}\n`);
    return 0;
  }
  for (const l of links) {
    const uses = `${l.uploads_used}/${l.max_uploads ?? '-'}`;
    process.stdout.write(`${l.token_id}  ${l.state.padEnd(8)}  uploads ${uses.padEnd(11)}  expires ${l.expires_at}  device ${l.device_id ?? '-'}\n`);
  }
  return 0;
}
