import type { MiddlewareHandler } from 'hono';
import { tokenMatches } from '../../admin/token.js';
import { SpoolError } from '../../errors.js';
import type { AppEnv } from '../env.js';

export interface ImageReadAuthOptions {
  adminToken: string;
  /** DEVICE_AUTH=token: the device a bearer token proves (throws 401); null when device auth is off. */
  authenticateDevice: ((authorization: string | undefined) => string) | null;
  /** The device whose receipt this id is, or undefined for an unknown id. */
  ownerOf: (id: string) => string | undefined;
}

/**
 * GET /images/{id} and its status under DEVICE_AUTH=token: the admin token reads any image, a device token
 * only the device's own receipts. Another device's image answers 404, as an unknown one does, so a token
 * does not reveal which ids exist. With device auth off (the seed devices) reads stay open, as uploads are.
 */
export function imageReadAuth(o: ImageReadAuthOptions): MiddlewareHandler<AppEnv> {
  return async function requireImageReader(c, next) {
    const authenticate = o.authenticateDevice;
    if (authenticate === null) return next();
    const header = c.req.header('authorization');
    const presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? '';
    if (presented && tokenMatches(presented, o.adminToken)) return next();
    const device = authenticate(header);
    const id = c.req.param('id') ?? '';
    if (o.ownerOf(id) !== device) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
    return next();
  };
}
