import { tokenMatches } from '../../admin/token.js';

/** What an Authorization header proves: the admin, nothing (no header), or something else (a device token, a wrong one). */
export type AdminCredential = 'admin' | 'none' | 'other';

/**
 * `Bearer <admin token>`, or HTTP Basic with the admin token as the password (any user name): what a
 * browser can send for a page, since it prompts for Basic credentials and keeps them for the origin.
 */
export function adminCredential(header: string | undefined, adminToken: string): AdminCredential {
  if (header === undefined || header.trim() === '') return 'none';
  const presented = presentedSecret(header);
  return presented !== '' && tokenMatches(presented, adminToken) ? 'admin' : 'other';
}

function presentedSecret(header: string): string {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer) return bearer[1] ?? '';
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return '';
  const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? '' : decoded.slice(colon + 1);
}
