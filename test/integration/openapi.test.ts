/**
 * GET /openapi.json describes every endpoint. The document is written by hand, so this file is what keeps
 * it true: every route the Hono app registers (and every endpoint docs/API.md's route table names) is in
 * `paths`, every code in ERROR_STATUS is in the Error schema, every error answer sits under the status
 * ERROR_STATUS gives its code, every $ref resolves, and the real answers of a running service (successes
 * and errors) validate against the schemas the document gives for them.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, type ErrorCode } from '../../src/errors.js';
import { DeviceTokens } from '../../src/devices/tokens.js';
import { createApp, type AppDeps } from '../../src/http/app.js';
import { openLedger } from '../../src/ledger/open.js';
import { HTTP_METHODS, type HttpMethod, type OpenApiDocument, type Operation, type Parameter, type Ref, type ResponseObject, type Schema } from '../../src/http/openapi.js';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, useInProcessService, waitFor } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

const ADMIN_TOKEN = 'openapi-test-admin-token-0123456789';

/** The endpoints docs/API.md's route table documents (Hono's `:id` written as OpenAPI's `{id}`). */
const README_ENDPOINTS: ReadonlyArray<readonly [HttpMethod, string]> = [
  ['post', '/image'],
  ['get', '/images'],
  ['get', '/images/{id}/status'],
  ['get', '/images/{id}'],
  ['get', '/healthz'],
  ['get', '/readyz'],
  ['get', '/admin/bwlimit'],
  ['put', '/admin/bwlimit'],
  ['post', '/admin/requeue'],
  ['get', '/admin/stats'],
  ['get', '/admin/status'],
  ['post', '/admin/links'],
  ['get', '/admin/links'],
  ['delete', '/admin/links/{token_id}'],
  ['post', '/admin/images/{id}/read-link'],
  ['post', '/u/{secret}'],
  ['get', '/openapi.json'],
  ['get', '/metrics'],
];

const toOpenApiPath = (honoPath: string): string => honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
const isRef = (x: object): x is Ref => '$ref' in x;

/** Every operation in the document, with its path and method. */
function operations(doc: OpenApiDocument): Array<{ path: string; method: HttpMethod; op: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    HTTP_METHODS.flatMap((method) => {
      const op = item[method];
      return op ? [{ path, method, op }] : [];
    }));
}

/** The (method, path) pairs docs/API.md's route table names in its first column. */
function readmeEndpoints(): Array<readonly [HttpMethod, string]> {
  const readme = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');
  const out: Array<readonly [HttpMethod, string]> = [];
  for (const line of readme.split('\n')) {
    const firstCell = /^\|\s*(`[A-Z]+ \/[^|]*)\|/.exec(line)?.[1];
    if (!firstCell) continue;
    for (const m of firstCell.matchAll(/`([A-Z]+) (\/[^`]*)`/g)) out.push([(m[1] as string).toLowerCase() as HttpMethod, m[2] as string]);
  }
  return out;
}

/**
 * The routes the real app registers. createApp only closes over its dependencies while routes are
 * registered, so an inert stand-in (any property is itself, calls return it) is enough to build it.
 */
function registeredRoutes(): Array<{ method: string; path: string }> {
  const target = function inert(): void {};
  const inert: unknown = new Proxy(target, {
    get: (_t, key) => (key === Symbol.toPrimitive ? () => '' : key === 'then' ? undefined : inert),
    apply: () => inert,
  });
  const app = createApp(inert as AppDeps);
  return app.routes.filter((r) => r.method !== 'ALL').map((r) => ({ method: r.method.toLowerCase(), path: toOpenApiPath(r.path) }));
}

// ---------------------------------------------------------------------------------------------------
// A small JSON Schema checker for the keywords the document uses; unknown keywords fail loudly.

const KNOWN_KEYWORDS = new Set(['$ref', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const',
  'oneOf', 'anyOf', 'pattern', 'format', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'contentEncoding',
  'contentMediaType', 'examples']);

function resolve(doc: OpenApiDocument, pointer: string): unknown {
  if (!pointer.startsWith('#/')) throw new Error(`external $ref ${pointer}`);
  let node: unknown = doc;
  for (const part of pointer.slice(2).split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  }
  return node;
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function check(doc: OpenApiDocument, schema: Schema, value: unknown, at: string, errors: string[]): void {
  for (const key of Object.keys(schema)) if (!KNOWN_KEYWORDS.has(key)) errors.push(`${at}: schema keyword ${key} is not checked here`);
  if (schema.$ref !== undefined) {
    const target = resolve(doc, schema.$ref);
    if (target === undefined) errors.push(`${at}: $ref ${schema.$ref} does not resolve`);
    else check(doc, target as Schema, value, at, errors);
  }
  const passes = (s: Schema): boolean => {
    const e: string[] = [];
    check(doc, s, value, at, e);
    return e.length === 0;
  };
  if (schema.anyOf && !schema.anyOf.some(passes)) errors.push(`${at}: matches none of anyOf: ${JSON.stringify(value)?.slice(0, 200)}`);
  if (schema.oneOf && schema.oneOf.filter(passes).length !== 1) errors.push(`${at}: matches ${schema.oneOf.filter(passes).length} of oneOf (needs exactly 1)`);
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) errors.push(`${at}: ${JSON.stringify(value)} is not the const ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((v) => v === value)) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = jsonTypeOf(value);
    if (!types.some((t) => t === actual || (t === 'number' && actual === 'integer'))) {
      errors.push(`${at}: ${actual} ${JSON.stringify(value)?.slice(0, 80)} is not ${types.join(' | ')}`);
      return;
    }
  }
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    if (schema.format === 'date-time' && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) errors.push(`${at}: ${value} is not a date-time`);
    if (schema.format === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) errors.push(`${at}: ${value} is not a date`);
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${at}: longer than ${schema.maxLength}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: ${value} < minimum ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: ${value} > maximum ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${at}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((item, i) => check(doc, schema.items as Schema, item, `${at}[${i}]`, errors));
  }
  if (jsonTypeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) errors.push(`${at}: missing required ${key}`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub) check(doc, sub, v, `${at}.${key}`, errors);
      else if (schema.additionalProperties === false) errors.push(`${at}: undocumented property ${key}`);
      else if (typeof schema.additionalProperties === 'object') check(doc, schema.additionalProperties, v, `${at}.${key}`, errors);
    }
  }
}

// ---------------------------------------------------------------------------------------------------

describe('GET /openapi.json', () => {
  const ctx = useInProcessService({ ADMIN_TOKEN, UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
  let doc: OpenApiDocument;
  /** Operations a live answer was validated for: `get /images/{id}` -> statuses. */
  const exercised = new Map<string, Set<number>>();

  const fetchDoc = async (): Promise<OpenApiDocument> => {
    if (doc) return doc;
    const res = await fetch(`${ctx.svc.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as OpenApiDocument;
    return doc;
  };

  /** Validates a live JSON answer against the document's schema for that operation and status. */
  function expectDocumented(method: HttpMethod, path: string, status: number, body: unknown): void {
    const op = doc.paths[path]?.[method];
    expect(op, `${method} ${path} is not in the document`).toBeDefined();
    const response = op?.responses[String(status)];
    expect(response, `${method} ${path} answered ${status}, which the document does not list`).toBeDefined();
    const resolved = (response && isRef(response) ? resolve(doc, response.$ref) : response) as ResponseObject;
    const media = resolved.content?.['application/json'];
    expect(media, `${method} ${path} ${status} has no application/json schema`).toBeDefined();
    const errors: string[] = [];
    check(doc, (media as { schema: Schema }).schema, body, `${method} ${path} ${status}`, errors);
    expect(errors).toEqual([]);
    // An error answer's code must be one the document lists for this operation and status.
    const code = (body as { error?: { code?: string } }).error?.code;
    if (status >= 400 && code !== undefined && media?.examples) expect(Object.keys(media.examples)).toContain(code);
    const key = `${method} ${path}`;
    exercised.set(key, (exercised.get(key) ?? new Set()).add(status));
  }

  async function call(method: HttpMethod, path: string, url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
    const res = await fetch(`${ctx.svc.baseUrl}${url}`, { ...init, method: method.toUpperCase() });
    const type = res.headers.get('content-type') ?? '';
    const body: unknown = type.startsWith('application/json') ? await res.json() : await res.arrayBuffer();
    if (type.startsWith('application/json')) expectDocumented(method, path, res.status, body);
    else exercised.set(`${method} ${path}`, (exercised.get(`${method} ${path}`) ?? new Set()).add(res.status));
    return { status: res.status, body, headers: res.headers };
  }
  const admin = (body?: unknown): RequestInit => ({
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

  it('is OpenAPI 3.1.0 JSON, public, with the package version', async () => {
    const d = await fetchDoc();
    expect(d.openapi).toBe('3.1.0');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(d.info.version).toBe(pkg.version);
    expect(Object.keys(d.components.securitySchemes).sort()).toEqual(['adminBasic', 'adminBearer', 'deviceBearer', 'readLink']);
  });

  it('describes every route the app registers, and no route it does not', async () => {
    const d = await fetchDoc();
    const routes = registeredRoutes();
    expect(routes.length).toBeGreaterThanOrEqual(README_ENDPOINTS.length);
    const documented = operations(d).map(({ method, path }) => `${method} ${path}`).sort();
    const registered = [...new Set(routes.map((r) => `${r.method} ${r.path}`))].sort();
    expect(documented).toEqual(registered);
  });

  it('describes every endpoint the route table of docs/API.md names', async () => {
    const d = await fetchDoc();
    const fromReadme = readmeEndpoints();
    expect(fromReadme.length).toBeGreaterThanOrEqual(14);
    for (const [method, path] of [...README_ENDPOINTS, ...fromReadme]) {
      expect(d.paths[path]?.[method], `${method.toUpperCase()} ${path}`).toBeDefined();
    }
  });

  it('lists every error code of ERROR_STATUS in the Error schema (and no other)', async () => {
    const d = await fetchDoc();
    const errorSchema = d.components.schemas['Error'];
    const code = errorSchema?.properties?.['error']?.properties?.['code'];
    const documented = new Set(code?.enum ?? []);
    const missing = Object.keys(ERROR_STATUS).filter((c) => !documented.has(c));
    expect(missing, 'codes in src/errors.ts ERROR_STATUS missing from the OpenAPI Error schema (src/http/openapi.ts ERROR_DOCS)').toEqual([]);
    expect([...documented].filter((c) => typeof c !== 'string' || !(c in ERROR_STATUS))).toEqual([]);
  });

  it('is well formed: operations have ids and responses, path parameters are declared, every $ref resolves', async () => {
    const d = await fetchDoc();
    const ids = new Set<string>();
    for (const { path, method, op } of operations(d)) {
      const where = `${method} ${path}`;
      expect(op.operationId, where).toMatch(/^[A-Za-z]+$/);
      expect(ids.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
      ids.add(op.operationId);
      expect(Object.keys(op.responses).length, where).toBeGreaterThan(0);
      expect(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${where} has no 2xx answer`).toBe(true);
      for (const status of Object.keys(op.responses)) expect(status, where).toMatch(/^[1-5]\d\d$/);
      expect(Array.isArray(op.security), `${where} says nothing about security`).toBe(true);
      for (const requirement of op.security) for (const scheme of Object.keys(requirement)) expect(d.components.securitySchemes[scheme], `${where}: ${scheme}`).toBeDefined();
      const declared = (op.parameters ?? [])
        .map((p) => (isRef(p) ? resolve(d, p.$ref) : p) as Parameter)
        .filter((p) => p.in === 'path').map((p) => p.name).sort();
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      expect(declared, `${where} path parameters`).toEqual(inTemplate);
    }
    const refs: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (typeof node === 'object' && node !== null) {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v);
          else walk(v);
        }
      }
    };
    walk(d);
    expect(refs.length).toBeGreaterThan(20);
    expect(refs.filter((r) => resolve(d, r) === undefined)).toEqual([]);
  });

  it('puts every documented error code under the status ERROR_STATUS gives it, with a matching example', async () => {
    const d = await fetchDoc();
    for (const { path, method, op } of operations(d)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const examples = (isRef(response) ? (resolve(d, response.$ref) as ResponseObject) : response).content?.['application/json']?.examples ?? {};
        for (const [name, example] of Object.entries(examples)) {
          const code = (example.value as { error?: { code?: string } }).error?.code;
          if (code === undefined) continue;
          expect(code, `${method} ${path} ${status}`).toBe(name);
          expect(String(ERROR_STATUS[code as ErrorCode]), `${method} ${path}: ${code} documented under ${status}`).toBe(status);
          const errors: string[] = [];
          check(d, { $ref: '#/components/schemas/Error' }, example.value, `${method} ${path} ${status} example ${name}`, errors);
          expect(errors).toEqual([]);
        }
      }
    }
  });

  it('gives examples that validate against their own schemas', async () => {
    const d = await fetchDoc();
    const errors: string[] = [];
    for (const { path, method, op } of operations(d)) {
      const media = [
        ...Object.entries(op.responses).flatMap(([status, r]) => Object.entries((isRef(r) ? (resolve(d, r.$ref) as ResponseObject) : r).content ?? {}).map(([type, m]) => ({ at: `${method} ${path} ${status} ${type}`, m }))),
        ...Object.entries(op.requestBody?.content ?? {}).map(([type, m]) => ({ at: `${method} ${path} request ${type}`, m })),
      ];
      for (const { at, m } of media) if (m.example !== undefined && !at.includes('multipart')) check(d, m.schema, m.example, `${at} example`, errors);
    }
    for (const [name, schema] of Object.entries(d.components.schemas)) {
      for (const [i, example] of (schema.examples ?? []).entries()) check(d, schema, example, `components.schemas.${name}.examples[${i}]`, errors);
    }
    expect(errors).toEqual([]);
  });

  it('matches what the running service answers, success and error, for every operation', async () => {
    const d = await fetchDoc();
    const base = ctx.svc.baseUrl;

    // POST /image: 202, then 200 for the resend; errors.
    const image = exifJpeg({ make: 'Acme', model: 'Cam 3000', orientation: 6, dateTimeOriginal: '2026:11:23 10:20:30', offsetTimeOriginal: '+02:00', latitude: 52.5201, longitude: -13.4049, width: 1920, height: 1080 });
    const first = await postImage(base, 'cam-openapi', image);
    expect(first.status).toBe(202);
    expectDocumented('post', '/image', 202, first.body);
    expect(first.headers.get('location')).toBe(`/images/${String(first.body['id'])}`);
    const again = await postImage(base, 'cam-openapi', image);
    expect(again.status).toBe(200);
    expectDocumented('post', '/image', 200, again.body);
    const id = String(first.body['id']);
    for (const [res, status] of [
      [await postImage(base, 'cam-openapi', null), 400],
      [await postImage(base, null, fakeJpeg(100)), 400],
      [await postImage(base, 'bad id!', fakeJpeg(100)), 400],
      [await postImage(base, 'cam-openapi', 'not an image at all'), 415],
      [await postImage(base, 'cam-openapi', fakeJpeg(100), 'p.jpg', { 'idempotency-key': 'k1' }), 202],
      [await postImage(base, 'cam-openapi', fakeJpeg(100), 'p.jpg', { 'idempotency-key': 'k1' }), 409],
    ] as const) {
      expect(res.status).toBe(status);
      expectDocumented('post', '/image', res.status, res.body);
    }
    await call('post', '/image', '/image', { body: 'x', headers: { 'content-type': 'text/plain' } });
    // The same endpoint with a JSON body: the same answers.
    const jsonImage = fakeJpeg(3000);
    const jsonBody = { body: JSON.stringify({ device_id: 'cam-json', image: jsonImage.toString('base64') }), headers: { 'content-type': 'application/json' } };
    expect((await call('post', '/image', '/image', jsonBody)).status).toBe(202);
    expect((await call('post', '/image', '/image', jsonBody)).status).toBe(200);
    expect((await call('post', '/image', '/image', { body: JSON.stringify({ device_id: 'cam-json', image: 'not base64!' }), headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await call('post', '/image', '/image', { body: JSON.stringify({ device_id: 'cam-json' }), headers: { 'content-type': 'application/json' } })).status).toBe(400);

    // Status (with metadata once extracted, with a credential), the outcome (the id alone), the bytes, the backlog.
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const status = await waitFor(async () => {
      const res = await fetch(`${base}/images/${id}/status`, { headers: auth });
      const body = (await res.json()) as Record<string, unknown>;
      return body['metadata'] === null ? undefined : body;
    }, 10_000, 'metadata');
    expectDocumented('get', '/images/{id}/status', 200, status);
    const outcome = await call('get', '/images/{id}/status', `/images/${id}/status`);
    expect(outcome.status).toBe(200);
    expect(outcome.body).not.toHaveProperty('metadata');
    expect((await call('get', '/images/{id}/status', `/images/${id}/status`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await call('get', '/images/{id}/status', '/images/01M84CWPD0SMD5ZBY79VQQHV2V/status')).status).toBe(404);
    expect((await call('get', '/images/{id}', `/images/${id}`)).status).toBe(401);
    const whole = await call('get', '/images/{id}', `/images/${id}`, { headers: auth });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/);
    expect((await call('get', '/images/{id}', `/images/${id}`, { headers: { ...auth, 'if-none-match': whole.headers.get('etag') ?? '' } })).status).toBe(304);
    expect((await call('get', '/images/{id}', `/images/${id}`, { headers: { ...auth, range: 'bytes=0-9' } })).status).toBe(206);
    expect((await call('get', '/images/{id}', `/images/${id}`, { headers: { ...auth, range: 'bytes=999999999-' } })).status).toBe(416);
    expect((await call('get', '/images/{id}', '/images/01M84CWPD0SMD5ZBY79VQQHV2V', { headers: auth })).status).toBe(404);

    // Signed read links: issued by the admin, a credential for one image.
    const readLink = await call('post', '/admin/images/{id}/read-link', `/admin/images/${id}/read-link`, admin({ expires_in: '10m' }));
    expect(readLink.status).toBe(201);
    expect((await call('post', '/admin/images/{id}/read-link', `/admin/images/${id}/read-link`, admin())).status).toBe(201);
    expect((await call('post', '/admin/images/{id}/read-link', '/admin/images/01M84CWPD0SMD5ZBY79VQQHV2V/read-link', admin())).status).toBe(404);
    expect((await call('post', '/admin/images/{id}/read-link', `/admin/images/${id}/read-link`, admin({ expires_in: '90d' }))).status).toBe(400);
    expect((await call('post', '/admin/images/{id}/read-link', `/admin/images/${id}/read-link`)).status).toBe(401);
    const signed = readLink.body as { url: string; status_url: string };
    const signedPath = (url: string): string => { const u = new URL(url); return `${u.pathname}${u.search}`; };
    expect((await call('get', '/images/{id}', signedPath(signed.url))).status).toBe(200);
    expect((await call('get', '/images/{id}/status', signedPath(signed.status_url))).status).toBe(200);
    const tampered = signedPath(signed.url).replace(/sig=(.)/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
    expect((await call('get', '/images/{id}', tampered)).status).toBe(403);
    expect((await call('get', '/images', '/images')).status).toBe(200);

    // Probes and this document.
    expect((await call('get', '/healthz', '/healthz')).status).toBe(200);
    expect((await call('get', '/readyz', '/readyz')).status).toBe(200);
    expect((await call('get', '/openapi.json', '/openapi.json')).status).toBe(200);
    expect((await call('get', '/metrics', '/metrics')).status).toBe(200);
    expect((await call('get', '/', '/')).status).toBe(200);
    expect((await call('get', '/status.json', '/status.json')).status).toBe(200);
    expect((await call('get', '/status.json', '/status.json', { headers: auth })).status).toBe(200);
    expect((await call('get', '/full/', '/full/')).status).toBe(401);
    expect((await call('get', '/full/', '/full/', { headers: auth })).status).toBe(200);
    expect((await call('get', '/full/status.json', '/full/status.json')).status).toBe(401);
    expect((await call('get', '/full/status.json', '/full/status.json', { headers: auth })).status).toBe(200);

    // Admin.
    expect((await call('get', '/admin/bwlimit', '/admin/bwlimit')).status).toBe(401);
    expect((await call('get', '/admin/bwlimit', '/admin/bwlimit', admin())).status).toBe(200);
    expect((await call('put', '/admin/bwlimit', '/admin/bwlimit', admin({ rate: '20Mbit' }))).status).toBe(200);
    expect((await call('put', '/admin/bwlimit', '/admin/bwlimit', admin({ rate: '20 furlongs' }))).status).toBe(400);
    expect((await call('put', '/admin/bwlimit', '/admin/bwlimit', admin({ speed: 1 }))).status).toBe(400);
    expect((await call('put', '/admin/bwlimit', '/admin/bwlimit', admin({ rate: null }))).status).toBe(200);
    expect((await call('get', '/admin/stats', '/admin/stats', admin())).status).toBe(200);
    expect((await call('get', '/admin/status', '/admin/status', admin())).status).toBe(200);
    expect((await call('post', '/admin/requeue', '/admin/requeue', admin({ ids: [id, '01M84CWPD0SMD5ZBY79VQQHV2V'] }))).status).toBe(200);
    expect((await call('post', '/admin/requeue', '/admin/requeue', admin({ state: 'dead' }))).status).toBe(200);
    expect((await call('post', '/admin/requeue', '/admin/requeue', admin({ ids: [] }))).status).toBe(400);

    // Upload links.
    expect((await call('post', '/admin/links', '/admin/links', admin({ expires_in: '1h', max_uploads: 3, device_id: 'kiosk-1' }))).status).toBe(201);
    const created = await call('post', '/admin/links', '/admin/links', admin({ expires_in: 3600, max_uploads: 3 }));
    expect(created.status).toBe(201);
    expect((await call('post', '/admin/links', '/admin/links', admin({ expires_in: '1h', max_upload: 1 }))).status).toBe(400);
    const { url, token_id: tokenId } = created.body as { url: string; token_id: string };
    const secret = new URL(url).pathname;
    const form = (images: Buffer[], deviceId: string | null): FormData => {
      const f = new FormData();
      if (deviceId !== null) f.append('device_id', deviceId);
      for (const [i, img] of images.entries()) f.append('image', new Blob([img]), `p${i}.jpg`);
      return f;
    };
    const a = fakeJpeg(500);
    const b = fakeJpeg(600);
    expect((await call('post', '/u/{secret}', secret, { body: form([a, b], 'visitor-7') })).status).toBe(202);
    expect((await call('post', '/u/{secret}', secret, { body: form([a], 'visitor-7') })).status).toBe(200);
    expect((await call('post', '/u/{secret}', secret, { body: form([fakeJpeg(700), fakeJpeg(800)], 'visitor-7') })).status).toBe(409);
    expect((await call('post', '/u/{secret}', secret, { body: form([a], 'visitor-7'), headers: { 'idempotency-key': 'k2' } })).status).toBe(400);
    expect((await call('post', '/u/{secret}', secret, { body: form([fakeJpeg(700)], null) })).status).toBe(400);
    expect((await call('post', '/u/{secret}', secret, { body: form([fakeJpeg(700)], 'visitor-7') })).status).toBe(202);
    expect((await call('post', '/u/{secret}', secret, { body: form([fakeJpeg(700)], 'visitor-7') })).status).toBe(410);
    expect((await call('post', '/u/{secret}', '/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', { body: form([a], 'visitor-7') })).status).toBe(404);
    expect((await call('get', '/admin/links', '/admin/links', admin())).status).toBe(200);
    expect((await call('delete', '/admin/links/{token_id}', `/admin/links/${tokenId}`, admin())).status).toBe(200);
    expect((await call('delete', '/admin/links/{token_id}', '/admin/links/000000000000', admin())).status).toBe(404);

    // Every operation in the document was checked against at least one real success answer.
    for (const { path, method } of operations(d)) {
      const seen = [...(exercised.get(`${method} ${path}`) ?? [])];
      expect(seen.some((s) => s >= 200 && s < 300), `${method} ${path}: no live 2xx answer was checked (saw ${seen.join(', ') || 'nothing'})`).toBe(true);
    }
  });
});

describe('GET /openapi.json with DEVICE_AUTH=token', () => {
  it('documents the device token answers of POST /image: 401 without it, 202 with it (device_id optional), 403 for another device', async () => {
    const s3 = await startTestS3();
    const svc = await startInProcess(s3, { DEVICE_AUTH: 'token', UPLOAD_BWLIMIT: '50MB', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
    try {
      const doc = (await (await fetch(`${svc.baseUrl}/openapi.json`)).json()) as OpenApiDocument;
      const op = doc.paths['/image']?.post as Operation;
      expect(op.security).toEqual([{}, { deviceBearer: [] }]);
      const db = openLedger(path.join(svc.spoolDir, 'ledger.db'));
      const { token } = new DeviceTokens(db).add('cam-a');
      db.close();
      const auth = { authorization: `Bearer ${token}` };
      const validate = (status: number, body: unknown): void => {
        const media = (op.responses[String(status)] as ResponseObject | undefined)?.content?.['application/json'];
        expect(media, `POST /image ${status} is not documented`).toBeDefined();
        const errors: string[] = [];
        check(doc, (media as { schema: Schema }).schema, body, `post /image ${status}`, errors);
        expect(errors).toEqual([]);
        const code = (body as { error?: { code?: string } }).error?.code;
        if (code !== undefined) expect(Object.keys(media?.examples ?? {})).toContain(code);
      };
      for (const [res, status] of [
        [await postImage(svc.baseUrl, 'cam-a', fakeJpeg(2000)), 401],
        [await postImage(svc.baseUrl, null, fakeJpeg(2000), 'a.jpg', auth), 202],
        [await postImage(svc.baseUrl, 'cam-b', fakeJpeg(2000), 'a.jpg', auth), 403],
      ] as const) {
        expect(res.status).toBe(status);
        validate(res.status, res.body);
      }
      const json = await fetch(`${svc.baseUrl}/image`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ image: fakeJpeg(2100).toString('base64') }) });
      expect(json.status).toBe(202);
      validate(202, await json.json());
    } finally {
      await svc.close();
      await s3.close();
    }
  });
});
