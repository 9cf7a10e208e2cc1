import type { IncomingMessage } from 'node:http';

/**
 * The client a request counts against for per-client limits: its IPv4 address, or the /64 of its IPv6
 * address (one host may use many addresses of its /64, privacy addresses among them). Devices behind one
 * NAT share a key: limits per key are fractions of the whole, never single slots.
 */
export function clientKey(req: IncomingMessage): string {
  const address = req.socket.remoteAddress;
  if (address === undefined) return 'unknown'; // the socket is already gone
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!address.includes(':')) return address;
  return `${ipv6Groups(address).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, without leading zeros (zone index dropped). */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16).toString(16) : g.toLowerCase()));
}
