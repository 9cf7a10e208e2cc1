import type { Context, MiddlewareHandler, Next } from 'hono';
import { SpoolError } from '../../errors.js';
import type { ReadLinks } from '../../read-links/read-links.js';
import type { AppEnv } from '../env.js';
import { adminCredential } from './credentials.js';

/** `full`: bytes, metadata, everything. `outcome`: what became of the upload, nothing from the image itself. */
export type ImageAccess = 'full' | 'outcome';

export interface ImageReadAuthOptions {
  adminToken: string;
  /** DEVICE_AUTH=token: the device a bearer token proves (throws 401); null when device auth is off. */
  authenticateDevice: ((authorization: string | undefined) => string) | null;
  /** The device whose receipt this id is, or undefined for an unknown id. */
  ownerOf: (id: string) => string | undefined;
  readLinks: ReadLinks;
  /** IMAGE_READ=open: with device auth off, reads need no credential (as before the setting existed). */
  open: boolean;
}

/**
 * GET /images/{id} (`bytes`) and GET /images/{id}/status (`status`). Full access for a valid signed read
 * link, the admin token (Bearer or Basic), or under DEVICE_AUTH=token the token of the receipt's own device
 * (another device's image answers 404, as an unknown one does, so a token does not reveal which ids exist).
 * Without a credential the id alone shows the upload's outcome (the status route) and never the bytes or
 * metadata. A credential that proves nothing is refused rather than quietly answered with less.
 */
export function imageReadAuth(o: ImageReadAuthOptions, route: 'bytes' | 'status'): MiddlewareHandler<AppEnv> {
  return async function requireImageReader(c, next) {
    const id = c.req.param('id') ?? '';
    const link = o.readLinks.check(id, c.req.query('expires'), c.req.query('sig'));
    if (link === 'invalid') throw new SpoolError('read_link_invalid', 'this read link is not valid for this image (altered, cut short, or signed for another image or gateway)');
    if (link === 'expired') throw new SpoolError('read_link_expired', `this read link expired at ${new Date(Number(c.req.query('expires')) * 1000).toISOString()}; ask for a new one`);
    const header = c.req.header('authorization');
    const admin = adminCredential(header, o.adminToken);
    if (link === 'valid' || admin === 'admin') return grant(c, next, 'full');
    if (o.authenticateDevice !== null) {
      const device = o.authenticateDevice(header);
      if (o.ownerOf(id) !== device) throw new SpoolError('not_found', `no image with id ${JSON.stringify(id.slice(0, 64))}`);
      return grant(c, next, 'full');
    }
    if (o.open) return grant(c, next, 'full');
    if (admin === 'other') throw noCredential('the credential sent is not the admin token; with DEVICE_AUTH=off device tokens do not read images');
    if (route === 'status') return grant(c, next, 'outcome');
    throw noCredential('image bytes need a credential');
  };
}

function grant(c: Context<AppEnv>, next: Next, access: ImageAccess): Promise<void> {
  c.set('imageAccess', access);
  return next();
}

function noCredential(why: string): SpoolError {
  return new SpoolError('unauthorized',
    `${why}: send Authorization: Bearer <admin token>, or use a signed read link (POST /admin/images/{id}/read-link, image-spool read-link ID)`,
    { headers: { 'WWW-Authenticate': 'Bearer' } });
}
