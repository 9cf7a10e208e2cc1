import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { describedRoute } from '../api/route.js';
import { fullStatusDataRoute, fullStatusPageRoute, statusDataRoute, statusPageRoute } from '../api/routes/status-page.js';
import { SpoolError } from '../errors.js';
import type { AppEnv } from '../http/env.js';
import { adminCredential } from '../http/middleware/credentials.js';
import { publicView } from './public-view.js';
import type { StatusSource } from './status-page.js';

interface LoadedPage {
  html: string;
  /** Allows exactly the page's own inline script and style (by hash), and fetches to this origin. */
  csp: string;
}

let loaded: LoadedPage | null = null;

/** `page.html` sits beside this file: `npm run build` copies it into `dist/src/status/` (tsc copies no HTML). */
function loadPage(): LoadedPage {
  if (loaded) return loaded;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'page.html'), path.resolve(here, '../../../src/status/page.html')];
  for (const file of candidates) {
    let html: string;
    try {
      html = readFileSync(file, 'utf8');
    } catch {
      continue; // try the next layout
    }
    const hashes = (tag: string): string => [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
      .map((m) => `'sha256-${createHash('sha256').update(m[1] as string).digest('base64')}'`).join(' ');
    // No 'unsafe-inline': even if some text escaped the page's escaping, an injected handler would not run.
    const csp = `default-src 'none'; script-src ${hashes('script')}; style-src ${hashes('style')}; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
    loaded = { html, csp };
    return loaded;
  }
  throw new SpoolError('internal', `status page not found (looked in ${candidates.join(', ')})`);
}

/**
 * GET / (the page) and GET /status.json (what it polls): public and read-only, in the public view unless the
 * request carries the admin token. GET /full/ and /full/status.json: the same page in the full view, behind
 * HTTP Basic (the admin token as the password), which a browser prompts for and then sends by itself.
 * STATUS_PAGE=off removes all of them.
 */
export function statusRoutes(source: StatusSource, adminToken: string): OpenAPIHono<AppEnv> {
  const page = loadPage();
  const routes = new OpenAPIHono<AppEnv>();
  const html = (c: Context<AppEnv>): Response => c.body(page.html, 200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': page.csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  });
  const json = (c: Context<AppEnv>, full: boolean): Response => {
    c.header('Cache-Control', 'no-store');
    const report = source.report(new Date());
    return c.json(full ? report : publicView(report));
  };
  describedRoute(routes, statusPageRoute, async (c) => html(c));
  describedRoute(routes, statusDataRoute, async (c) => json(c, adminCredential(c.req.header('authorization'), adminToken) === 'admin'));
  // The page fetches `status.json` relative to itself: /full/status.json, inside the Basic realm.
  const fullView = requireAdminBasic(adminToken);
  describedRoute(routes, { ...fullStatusPageRoute, middleware: fullView }, async (c) => html(c));
  describedRoute(routes, { ...fullStatusDataRoute, middleware: fullView }, async (c) => json(c, true));
  return routes;
}

function requireAdminBasic(adminToken: string): MiddlewareHandler<AppEnv> {
  return async function requireAdminForFullView(c, next) {
    if (adminCredential(c.req.header('authorization'), adminToken) === 'admin') return next();
    throw new SpoolError('unauthorized', 'the full status view needs the admin token: HTTP Basic with any user name and the admin token as the password, or Authorization: Bearer <admin token>',
      { headers: { 'WWW-Authenticate': 'Basic realm="image-spool admin", charset="UTF-8"' } });
  };
}
