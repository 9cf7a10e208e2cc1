import type { Context } from 'hono';
import type { AppEnv } from '../http/env.js';
import { packageVersion } from '../version.js';
import type { ApiApp } from './route.js';
import { openApiRoute } from './routes/operations.js';
import { describedRoute } from './route.js';
import { SECURITY_SCHEMES } from './security.js';

/** GET /openapi.json: the document, generated from the app's routes and their schemas. */
export type OpenApiDocument = ReturnType<ApiApp['getOpenAPI31Document']>;

const INFO = {
  title: 'image-spool',
  summary: 'On-premise gateway: durable photo spool on local disk, forwarded to S3 under a hard uplink budget.',
  description: 'Devices POST photos; each is durable on local disk and in a SQLite ledger before the answer, then forwarded to S3 through one shared bandwidth budget. Every error is JSON `{"error": {"code", "message"}}` with a stable `code` (see the `Error` schema). Any request may also be answered before routing with `400 invalid_request` (malformed HTTP), `408 request_timeout` (headers too slow) or `431 request_headers_too_large`, and an unknown route with `404 not_found`. Every answer carries `X-Request-Id`. Examples: docs/API.md.',
  license: { name: 'MIT', identifier: 'MIT' },
};

const TAGS = [
  { name: 'devices', description: 'What cameras call.' },
  { name: 'images', description: 'The ledger and the image bytes: the bytes and the metadata need a credential, the id alone shows the outcome.' },
  { name: 'links', description: 'Expirable upload links.' },
  { name: 'admin', description: 'Operator endpoints: `Authorization: Bearer <admin token>`.' },
  { name: 'operations', description: 'Probes and this document.' },
];

function openApiDocument(app: ApiApp): OpenApiDocument {
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { ...INFO, version: packageVersion() },
    servers: [{ url: '/', description: 'The gateway this document was fetched from (default port 4000).' }],
    tags: TAGS,
    security: [],
  });
}

/**
 * Registers GET /openapi.json on the root app. The document is generated at the first request, once every
 * route (this one included, and the sub-apps mounted after this call) is in the registry.
 */
export function serveOpenApi(app: ApiApp): void {
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent('securitySchemes', name, scheme);
  let body: string | null = null;
  describedRoute(app, openApiRoute, async function openApi(c: Context<AppEnv>) {
    body ??= JSON.stringify(openApiDocument(app));
    return c.body(body, 200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
  });
}
