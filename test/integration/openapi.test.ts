/**
 * GET /openapi.json is generated from the zod schemas that also validate the requests (src/api/). This file
 * checks the generated document with a real JSON Schema validator (ajv, draft 2020-12, as OpenAPI 3.1 uses):
 * every route the Hono app registers (and every endpoint docs/API.md's route table names) is in `paths`, every
 * code in ERROR_STATUS is in the Error schema, every error answer sits under the status ERROR_STATUS gives
 * its code, every $ref resolves, every example fits its schema, the real answers of a running service
 * (successes and errors) fit the schemas the document gives for them, and every JSON body sent is refused
 * with 400 exactly when the document's request schema refuses it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, type ErrorCode } from '../../src/errors.js';
import { DeviceTokens } from '../../src/devices/tokens.js';
import { createApp, type AppDeps } from '../../src/http/app.js';
import { openLedger } from '../../src/ledger/open.js';
import { exifJpeg } from '../helpers/exif-jpeg.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { startInProcess, useInProcessService, waitFor } from '../helpers/in-process.js';
import { startTestS3 } from '../helpers/s3.js';

const ADMIN_TOKEN = 'openapi-test-admin-token-0123456789';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
type HttpMethod = (typeof HTTP_METHODS)[number];

// The parts of an OpenAPI 3.1 document this test walks (the document itself is generated, not typed here).
type Json = Record<string, unknown>;
interface MediaType { schema?: Json; example?: unknown; examples?: Record<string, { value: unknown }> }
interface ResponseObject { description: string; content?: Record<string, MediaType>; headers?: Json }
interface Parameter { name: string; in: string; required?: boolean; schema?: Json }
interface Operation {
  operationId: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, ResponseObject>;
}
interface OpenApiDocument {
  openapi: string;
  info: { version: string };
  paths: Record<string, Partial<Record<HttpMethod, Operation>>>;
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
}

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

// ajv-formats is CommonJS: its default export arrives wrapped under NodeNext.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/** A JSON Schema validator over the document: schemas are checked by JSON pointer into it, so $refs resolve as a client's would. */
function schemaChecker(doc: OpenApiDocument): (schema: Json, value: unknown) => string[] {
  // strict: false, so OpenAPI's own annotations (`example`) are not taken for unknown keywords.
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  ajv.addSchema(doc as unknown as Json, 'openapi.json');
  const compiled = new Map<Json, ReturnType<Ajv2020['compile']>>();
  return (schema, value) => {
    let validate = compiled.get(schema);
    if (!validate) {
      validate = ajv.compile({ $id: `check-${compiled.size}`, ...rebase(schema) });
      compiled.set(schema, validate);
    }
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
  };
}

/** A schema taken out of the document, its local $refs pointed at the document. */
function rebase(schema: Json): Json {
  return JSON.parse(JSON.stringify(schema).replaceAll('"$ref":"#/', '"$ref":"openapi.json#/')) as Json;
}

/** Every $ref in the document resolves to something. */
function resolvePointer(doc: unknown, pointer: string): unknown {
  let node: unknown = doc;
  for (const part of pointer.replace(/^#\//, '').split('/')) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    node = typeof node === 'object' && node !== null ? (node as Json)[key] : undefined;
  }
  return node;
}

// ---------------------------------------------------------------------------------------------------

describe('GET /openapi.json', () => {
  const ctx = useInProcessService({ ADMIN_TOKEN, UPLOAD_BWLIMIT: '1KB', UPLOAD_CONCURRENCY: '1', SPOOL_MIN_FREE_BYTES: '0', SHUTDOWN_GRACE_MS: '100' });
  let doc: OpenApiDocument;
  let check: (schema: Json, value: unknown) => string[];
  /** Operations a live answer was validated for: `get /images/{id}` -> statuses. */
  const exercised = new Map<string, Set<number>>();

  const fetchDoc = async (): Promise<OpenApiDocument> => {
    if (doc) return doc;
    const res = await fetch(`${ctx.svc.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as OpenApiDocument;
    check = schemaChecker(doc);
    return doc;
  };

  /** Validates a live JSON answer against the document's schema for that operation and status. */
  function expectDocumented(method: HttpMethod, path: string, status: number, body: unknown): void {
    const op = doc.paths[path]?.[method];
    expect(op, `${method} ${path} is not in the document`).toBeDefined();
    const response = op?.responses[String(status)];
    expect(response, `${method} ${path} answered ${status}, which the document does not list`).toBeDefined();
    const media = response?.content?.['application/json'];
    expect(media?.schema, `${method} ${path} ${status} has no application/json schema`).toBeDefined();
    expect(check(media?.schema as Json, body), `${method} ${path} ${status}: ${JSON.stringify(body)?.slice(0, 300)}`).toEqual([]);
    // An error answer's code must be one the document lists for this operation and status.
    const code = (body as { error?: { code?: string } }).error?.code;
    if (status >= 400 && code !== undefined && media?.examples) expect(Object.keys(media.examples)).toContain(code);
    const key = `${method} ${path}`;
    exercised.set(key, (exercised.get(key) ?? new Set()).add(status));
  }

  /**
   * The document's request schema and the service agree on a JSON body: refused by the schema exactly when
   * the service refuses it as a bad request (400 invalid_request or invalid_device_id, never a later check).
   */
  function expectRequestVerdict(method: HttpMethod, path: string, sent: string, status: number, body: unknown): void {
    const schema = doc.paths[path]?.[method]?.requestBody?.content['application/json']?.schema;
    // POST /image decodes its JSON as it streams (into the spool), with the ingest's own codes (missing_image, 415).
    if (schema === undefined || status === 401 || path === '/image') return;
    let value: unknown;
    try {
      value = JSON.parse(sent);
    } catch {
      value = undefined;
    }
    const refusedByDoc = check(schema, value).length > 0;
    const code = (body as { error?: { code?: string } }).error?.code ?? '';
    const refusedAsBadRequest = status === 400 && ['invalid_request', 'invalid_device_id'].includes(code);
    const verdict = `${method} ${path} ${sent}: the document ${refusedByDoc ? 'refuses' : 'accepts'} it, the service answered ${status} ${code}`;
    if (refusedByDoc || !refusedAsBadRequest) expect(refusedAsBadRequest, verdict).toBe(refusedByDoc);
    // The one check JSON Schema cannot say (the schema's description does): a duration string's length in seconds.
    else expect((body as { error: { message: string } }).error.message, verdict).toMatch(/^expires_in must be between 1 second and 30 days/);
  }

  async function call(method: HttpMethod, path: string, url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
    const res = await fetch(`${ctx.svc.baseUrl}${url}`, { ...init, method: method.toUpperCase() });
    const type = res.headers.get('content-type') ?? '';
    const body: unknown = type.startsWith('application/json') ? await res.json() : await res.arrayBuffer();
    if (type.startsWith('application/json')) expectDocumented(method, path, res.status, body);
    else exercised.set(`${method} ${path}`, (exercised.get(`${method} ${path}`) ?? new Set()).add(res.status));
    if (typeof init.body === 'string') expectRequestVerdict(method, path, init.body, res.status, body);
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
    const error = d.components.schemas['Error'] as { properties: { error: { properties: { code: { enum: string[] } } } } };
    expect([...error.properties.error.properties.code.enum].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
  });

  it('keeps each operation\'s security: admin bearer on /admin/*, the image readers, the device token, public probes', async () => {
    const d = await fetchDoc();
    for (const { path, method, op } of operations(d)) {
      if (path.startsWith('/admin/')) expect(op.security, `${method} ${path}`).toEqual([{ adminBearer: [] }]);
    }
    const images = [{ adminBearer: [] }, { adminBasic: [] }, { readLink: [] }, { deviceBearer: [] }];
    expect(d.paths['/images/{id}']?.get?.security).toEqual(images);
    expect(d.paths['/images/{id}/status']?.get?.security).toEqual([{}, ...images]);
    expect(d.paths['/image']?.post?.security).toEqual([{}, { deviceBearer: [] }]);
    expect(d.paths['/metrics']?.get?.security).toEqual([{}, { adminBearer: [] }]);
    expect(d.paths['/status.json']?.get?.security).toEqual([{}, { adminBearer: [] }, { adminBasic: [] }]);
    expect(d.paths['/full/']?.get?.security).toEqual([{ adminBasic: [] }, { adminBearer: [] }]);
    for (const p of ['/healthz', '/readyz', '/openapi.json', '/images', '/']) expect(d.paths[p]?.get?.security, p).toEqual([]);
    expect(d.paths['/u/{secret}']?.post?.security).toEqual([]);
  });

  it('takes its limits from the code: the device id pattern, the link limits, the error statuses', async () => {
    const d = await fetchDoc();
    const { DEVICE_ID_PATTERN, LINK_MAX_IMAGES_PER_REQUEST, MAX_LINK_UPLOADS } = await import('../../src/http/limits.js');
    expect(d.components.schemas['DeviceId']).toMatchObject({ pattern: DEVICE_ID_PATTERN.source });
    expect(JSON.stringify(d.paths['/u/{secret}'])).toContain(`"maxItems":${LINK_MAX_IMAGES_PER_REQUEST}`);
    expect(JSON.stringify(d.components.schemas['LinkRequest'])).toContain(`"maximum":${MAX_LINK_UPLOADS}`);
  });

  it('is well formed: operations have ids and responses, path parameters are declared, every $ref resolves', async () => {
    const d = await fetchDoc();
    const ids = new Set<string>();
    for (const { path, method, op } of operations(d)) {
      const where = `${method} ${path}`;
      expect(op.operationId, where).toMatch(/^[A-Za-z]+$/);
      expect(ids.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
      ids.add(op.operationId);
      expect(Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)), `${where} has no 2xx answer`).toBe(true);
      for (const status of Object.keys(op.responses)) expect(status, where).toMatch(/^[1-5]\d\d$/);
      expect(Array.isArray(op.security), `${where} says nothing about security`).toBe(true);
      for (const requirement of op.security ?? []) for (const scheme of Object.keys(requirement)) expect(d.components.securitySchemes[scheme], `${where}: ${scheme}`).toBeDefined();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort();
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
    expect(refs.filter((r) => resolvePointer(d, r) === undefined)).toEqual([]);
  });

  it('puts every documented error code under the status ERROR_STATUS gives it, with a matching example', async () => {
    const d = await fetchDoc();
    let seen = 0;
    for (const { path, method, op } of operations(d)) {
      for (const [status, response] of Object.entries(op.responses)) {
        for (const [name, example] of Object.entries(response.content?.['application/json']?.examples ?? {})) {
          const code = (example.value as { error?: { code?: string } }).error?.code;
          if (code === undefined) continue;
          seen++;
          expect(code, `${method} ${path} ${status}`).toBe(name);
          expect(String(ERROR_STATUS[code as ErrorCode]), `${method} ${path}: ${code} documented under ${status}`).toBe(status);
          expect(check({ $ref: '#/components/schemas/Error' }, example.value), `${method} ${path} ${status} example ${name}`).toEqual([]);
        }
      }
    }
    expect(seen).toBeGreaterThan(50);
  });

  it('gives examples that validate against their own schemas', async () => {
    const d = await fetchDoc();
    const errors: string[] = [];
    let seen = 0;
    for (const { path, method, op } of operations(d)) {
      const media = [
        ...Object.entries(op.responses).flatMap(([status, r]) => Object.entries(r.content ?? {}).map(([type, m]) => ({ at: `${method} ${path} ${status} ${type}`, m }))),
        ...Object.entries(op.requestBody?.content ?? {}).map(([type, m]) => ({ at: `${method} ${path} request ${type}`, m })),
      ];
      for (const { at, m } of media) {
        if (m.schema === undefined || at.includes('multipart') || at.includes('text/')) continue;
        const examples = [...(m.example === undefined ? [] : [m.example]), ...Object.values(m.examples ?? {}).map((e) => e.value)];
        for (const example of examples) {
          seen++;
          errors.push(...check(m.schema, example).map((e) => `${at} example: ${e}`));
        }
      }
    }
    for (const [name, schema] of Object.entries(d.components.schemas)) {
      for (const [i, example] of ((schema['examples'] as unknown[] | undefined) ?? []).entries()) {
        seen++;
        errors.push(...check({ $ref: `#/components/schemas/${name}` }, example).map((e) => `components.schemas.${name}.examples[${i}]: ${e}`));
      }
    }
    expect(errors).toEqual([]);
    expect(seen).toBeGreaterThan(80);
    // The checker is not vacuous: a receipt with a bad id, a missing field and an extra one is refused for each.
    expect(check({ $ref: '#/components/schemas/Receipt' }, { id: 'x', device_id: 'cam', sha256: 'ab'.repeat(32), bytes: 1, content_type: 'image/jpeg', extra: 1 })).toHaveLength(3);
  });

  it('refuses bad JSON bodies and query strings with 400 and a message naming the field, as the document says', async () => {
    await fetchDoc();
    const refused: Array<[HttpMethod, string, string, RequestInit, string, RegExp]> = [
      ['put', '/admin/bwlimit', '/admin/bwlimit', admin({ rate: 5 }), 'invalid_request', /^rate must be a rate such as "20Mbit", or null to return to the schedule, got 5$/],
      ['put', '/admin/bwlimit', '/admin/bwlimit', { ...admin(), body: 'not json' }, 'invalid_request', /rate/],
      ['post', '/admin/requeue', '/admin/requeue', admin({ ids: 'x' }), 'invalid_request', /"ids"/],
      ['post', '/admin/links', '/admin/links', admin({ expires_in: '1h', max_uploads: 1.5 }), 'invalid_request', /^max_uploads must be a whole number/],
      ['post', '/admin/links', '/admin/links', admin({ expires_in: '1h', device_id: '../etc' }), 'invalid_device_id', /^device_id must match/],
      ['get', '/images/{id}/status', '/images/01M84CWPD0SMD5ZBY79VQQHV2V/status?sig=a&sig=b', {}, 'invalid_request', /^sig must be given once$/],
      ['get', '/images/{id}', '/images/01M84CWPD0SMD5ZBY79VQQHV2V?expires=1&expires=2', {}, 'invalid_request', /^expires must be given once$/],
    ];
    for (const [method, path, url, init, code, message] of refused) {
      const res = await call(method, path, url, init);
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(res.body).toMatchObject({ error: { code, message: expect.stringMatching(message) } });
    }
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
      const check = schemaChecker(doc);
      expect(op.security).toEqual([{}, { deviceBearer: [] }]);
      const db = openLedger(path.join(svc.spoolDir, 'ledger.db'));
      const { token } = new DeviceTokens(db).add('cam-a');
      db.close();
      const auth = { authorization: `Bearer ${token}` };
      const validate = (status: number, body: unknown): void => {
        const media = op.responses[String(status)]?.content?.['application/json'];
        expect(media?.schema, `POST /image ${status} is not documented`).toBeDefined();
        expect(check(media?.schema as Json, body), `post /image ${status}`).toEqual([]);
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
