import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** The client a request counts against for per-client limits (src/http/client-slots.ts, src/http/body-gate.ts). */
export type ClientOf = (req: IncomingMessage) => string;

/**
 * Keys requests by client: the IPv4 address, or the /64 of an IPv6 address (one host may use many
 * addresses of its /64, privacy addresses among them). Devices behind one NAT share a key, so limits per
 * key are fractions of the whole, never single slots.
 *
 * Behind a reverse proxy (deploy/nginx.conf) every request comes from the proxy: with its address in
 * `trustedProxies` (TRUSTED_PROXIES), the client is the right-most X-Forwarded-For entry that is not itself
 * a trusted proxy. Entries from anyone else are ignored, as a device could write any address there.
 */
export function clientKeys(trustedProxies: readonly string[] = []): ClientOf {
  if (trustedProxies.length === 0) return (req) => keyOf(req.socket.remoteAddress);
  const trusted = proxyList(trustedProxies);
  const isTrusted = (address: string): boolean => {
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && trusted.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
  return (req) => {
    const peer = req.socket.remoteAddress;
    if (peer === undefined || !isTrusted(peer)) return keyOf(peer);
    const hops = String(req.headers['x-forwarded-for'] ?? '').split(',').map((h) => h.trim()).filter((h) => h !== '');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i] as string;
      if (isIP(unmapped(hop)) === 0) break; // garbage: trust nothing further left
      if (!isTrusted(hop)) return keyOf(hop);
    }
    return keyOf(peer);
  };
}

/** "10.0.0.5", "10.0.0.0/24", "fd00::/8": a BlockList of them (entries already validated by config.ts). */
function proxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

function unmapped(address: string): string {
  return /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1] ?? address;
}

function keyOf(address: string | undefined): string {
  if (address === undefined) return 'unknown'; // the socket is already gone
  const plain = unmapped(address);
  if (!plain.includes(':')) return plain;
  return `${ipv6Groups(plain).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address, without leading zeros (zone index dropped). */
function ipv6Groups(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return groups.map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16).toString(16) : g.toLowerCase()));
}
