import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientKeys } from '../../src/http/client-address.js';

const req = (remoteAddress: string | undefined, xff?: string): IncomingMessage =>
  ({ socket: { remoteAddress }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('client keys for per-address limits', () => {
  it('IPv4 as is (mapped or not); IPv6 by /64; a gone socket is "unknown"', () => {
    const key = clientKeys();
    expect(key(req('10.1.2.3'))).toBe('10.1.2.3');
    expect(key(req('::ffff:10.1.2.3'))).toBe('10.1.2.3');
    expect(key(req('2001:db8:0:1:aaaa::1'))).toBe('2001:db8:0:1::/64');
    expect(key(req('2001:0db8:0000:0001:bbbb:cccc:dddd:eeee'))).toBe('2001:db8:0:1::/64');
    expect(key(req('fe80::1%eth0'))).toBe('fe80:0:0:0::/64');
    expect(key(req(undefined))).toBe('unknown');
    expect(key(req('10.1.2.3', '192.0.2.7'))).toBe('10.1.2.3'); // no trusted proxy: the header is ignored
  });

  it('behind a trusted proxy, the right-most X-Forwarded-For entry that is not a trusted proxy', () => {
    const key = clientKeys(['10.0.0.11', '10.0.1.0/24']);
    expect(key(req('10.0.0.11', '192.0.2.7'))).toBe('192.0.2.7');
    expect(key(req('::ffff:10.0.0.11', '6.6.6.6, 192.0.2.7, 10.0.1.5'))).toBe('192.0.2.7'); // a device cannot pick its own key
    expect(key(req('10.0.0.11', 'not-an-ip, 10.0.1.9'))).toBe('10.0.0.11');
    expect(key(req('10.0.0.11'))).toBe('10.0.0.11');
    expect(key(req('192.0.2.99', '203.0.113.1'))).toBe('192.0.2.99'); // not a proxy we trust
  });
});
