import { adminRequest } from '../admin/client.js';
import { loadConfig } from '../config.js';
import { expectPositionals, parseArgs, stringOption } from './args.js';
import type { Command } from './command.js';

interface IssuedLink {
  image_id: string;
  url: string;
  status_url: string;
  expires_at: string;
}

const USAGE = `usage: image-spool read-link IMAGE_ID [--expires-in 1h] [--json]

A signed link that reads one image (its bytes, and its record with metadata) without the admin token, until
it expires: hand it to a tool instead of the token. Made by the running service's admin API
(POST /admin/images/IMAGE_ID/read-link); the link is a credential, so treat it like one.

  --expires-in  90s, 30m, 48h, 7d or whole seconds, at most 30 days (default 1h)
  --json        {"image_id", "url", "status_url", "expires_at"} on one line

The URL's host is the one this CLI reached the service by: set IMAGE_SPOOL_URL to the gateway's LAN name
(e.g. http://gateway:4000) to hand out a link that works from elsewhere. Every link stops working when
$SPOOL_DIR/read-link.key is deleted and the service restarted.`;

export const readLinkCommand: Command = {
  name: 'read-link',
  summary: 'a signed, expiring link to one image: IMAGE_ID [--expires-in 1h] [--json]',
  usage: USAGE,
  async run(args) {
    const parsed = parseArgs(args, { 'expires-in': { type: 'string' }, json: { type: 'boolean' } });
    const [id] = expectPositionals(parsed, 1, 1, 'IMAGE_ID');
    const expiresIn = stringOption(parsed, 'expires-in');
    const link = (await adminRequest(loadConfig(), 'POST', `/admin/images/${encodeURIComponent(id as string)}/read-link`,
      expiresIn === undefined ? {} : { expires_in: expiresIn })) as IssuedLink;
    process.stdout.write(parsed.options['json'] === true
      ? `${JSON.stringify(link)}\n`
      : `url          ${link.url}\nstatus_url   ${link.status_url}\nexpires_at   ${link.expires_at}\n`);
    return 0;
  },
};
