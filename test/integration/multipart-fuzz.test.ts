import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_ID_PATTERN } from '../../src/http/limits.js';
import { SNIFF_BYTES, sniffImage } from '../../src/meta/sniff.js';
import { fakeJpeg, sha256Hex } from '../helpers/images.js';
import { waitFor } from '../helpers/in-process.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { chunked, rawExchange, requestHead, startObservedService, type ObservedService, type RawResponse, type Step } from '../helpers/raw-http.js';

/**
 * Property-based fuzz of POST /image: random mutations of a valid multipart upload (part-level: dropped,
 * duplicated, reordered, renamed and extra parts, odd Content-Disposition forms, extra part headers,
 * wrong or missing boundaries; byte-level: flips, truncations, insertions, deletions, repeats; framing:
 * Content-Length, chunked, a Content-Length shorter than the body, or longer and then FIN) with random
 * device ids and random extra HTTP headers, each sent byte for byte on a raw socket.
 *
 * Every answer is a 2xx receipt whose row and file are exactly right, or a 4xx JSON error with a known code
 * and no row; never a 5xx, never a hang, never an uncaught exception; no `.part` file is left, and the app
 * finishes every request it saw (its access-log line appears). Then the service is still healthy.
 *
 * Deterministic in `npm test`: the fixed SEEDS below, each for its number of runs, send the same requests
 * every time (no time limit cuts a run short). A seed that ever failed stays in the list as a regression.
 * A long random exploration is `npm run fuzz -- --runs N` (scripts/fuzz.mjs): it picks a seed, passes it
 * here as FUZZ_SEED with FUZZ_RUNS, and prints the seed if a run fails; add that seed to SEEDS with the fix.
 */

const MAX = 300_000;

interface SeedRun { seed: number; runs: number; why: string }

/**
 * npm test's fuzz: the same requests every time. A seed names requests only for these arbitraries: after
 * changing them, check that each regression seed still fails on the commit before its fix (or keep its
 * counterexample as a plain case in bad-input.test.ts, as issue 18's 182-byte form is).
 */
const SEEDS: readonly SeedRun[] = [
  { seed: 885344062, runs: 200, why: 'issue 18: an image field with charset=utf-16 crashed the process (busboy hands undefined; run 185)' },
  { seed: 1, runs: 300, why: 'exploration' },
  { seed: 20260118, runs: 300, why: 'exploration' },
  { seed: 0x5eed_cafe, runs: 300, why: 'exploration' },
];

/** scripts/fuzz.mjs: one seed it chose, for as many runs as asked. */
function randomRun(env: NodeJS.ProcessEnv): SeedRun | null {
  if (env['FUZZ_RUNS'] === undefined) return null;
  const runs = Number(env['FUZZ_RUNS']);
  const seed = Number(env['FUZZ_SEED']);
  if (!Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(seed)) throw new Error(`FUZZ_RUNS=${env['FUZZ_RUNS']} FUZZ_SEED=${env['FUZZ_SEED']}: expected integers`);
  return { seed, runs, why: 'npm run fuzz' };
}

const RANDOM = randomRun(process.env);
const PLAN: readonly SeedRun[] = RANDOM ? [RANDOM] : SEEDS;
const CLIENT_ERROR_CODES = new Set(['invalid_request', 'missing_device_id', 'invalid_device_id', 'missing_image', 'too_many_images', 'too_many_fields',
  'invalid_idempotency_key', 'idempotency_key_reused', 'request_timeout', 'image_too_large', 'unsupported_media_type', 'not_an_image']);

// ---------- generated inputs ----------

type ImageKind = 'jpeg' | 'png' | 'gif' | 'text' | 'tiny' | 'empty';
interface ImageSpec { kind: ImageKind; size: number; seed: number }

interface PartModel { name: string | null; filename: string | null; contentType: string | null; value: Buffer; extraHeaders: string[]; disposition: Disposition }
type Disposition = 'quoted' | 'unquoted' | 'upper' | 'extended' | 'no-name';

type StructOp =
  | { op: 'drop'; which: number }
  | { op: 'duplicate'; which: number }
  | { op: 'swap'; i: number; j: number }
  | { op: 'addField'; name: string; value: string }
  | { op: 'addFile'; name: string; size: number }
  | { op: 'rename'; which: number; name: string }
  | { op: 'header'; which: number; line: string }
  | { op: 'disposition'; which: number; form: Disposition }
  | { op: 'wrongBoundary' }
  | { op: 'noClosing' };

type ByteOp =
  | { op: 'flip'; at: number; byte: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'repeat'; at: number; len: number };

type Framing = 'content-length' | 'chunked' | 'short-content-length' | 'long-content-length-then-fin';

interface FuzzCase {
  deviceId: string;
  image: ImageSpec;
  boundary: string;
  quoteBoundary: boolean;
  structOps: StructOp[];
  byteOps: ByteOp[];
  framing: Framing;
  shortBy: number;
  chunkBytes: number;
  httpHeaders: Array<[string, string]>;
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/);
const partName = fc.oneof(fc.constantFrom('image', 'device_id', 'thumb', 'Image', 'image ', 'device_id\u0000'), fc.string({ maxLength: 12 }));
const validDeviceId = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/)
  // "." and ".." are accepted today and are a known bug (bad-input.test.ts): left to that test, so the
  // fuzz keeps exploring instead of shrinking to them every time.
  .filter((id) => !/^\.+$/.test(id));
const deviceIdArb = fc.oneof(
  { weight: 6, arbitrary: validDeviceId },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).filter((id) => !/^\.+$/.test(id)) },
  { weight: 1, arbitrary: fc.constantFrom('', '../../etc', 'a/b', 'x'.repeat(65), 'cam\u0000', 'cam\u0007', 'cam\r\n', 'cam\u202e') },
);
const imageArb: fc.Arbitrary<ImageSpec> = fc.record({
  kind: fc.constantFrom<ImageKind>('jpeg', 'jpeg', 'jpeg', 'png', 'gif', 'text', 'tiny', 'empty'),
  size: fc.integer({ min: 1, max: 40_000 }),
  seed: fc.integer(),
});
const structOpArb: fc.Arbitrary<StructOp> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), which: fc.nat(5) }),
  fc.record({ op: fc.constant('duplicate' as const), which: fc.nat(5) }),
  fc.record({ op: fc.constant('swap' as const), i: fc.nat(5), j: fc.nat(5) }),
  fc.record({ op: fc.constant('addField' as const), name: partName, value: fc.string({ maxLength: 40 }) }),
  fc.record({ op: fc.constant('addFile' as const), name: partName, size: fc.nat(5000) }),
  fc.record({ op: fc.constant('rename' as const), which: fc.nat(5), name: partName }),
  fc.record({ op: fc.constant('header' as const), which: fc.nat(5), line: fc.oneof(
    fc.tuple(token, fc.string({ maxLength: 30 })).map(([k, v]) => `${k}: ${v}`),
    fc.constantFrom('Content-Type: text/plain; charset=utf-16', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment', 'no colon here', ': empty name'),
  ) }),
  fc.record({ op: fc.constant('disposition' as const), which: fc.nat(5), form: fc.constantFrom<Disposition>('unquoted', 'upper', 'extended', 'no-name') }),
  fc.constant({ op: 'wrongBoundary' as const }),
  fc.constant({ op: 'noClosing' as const }),
);
const byteOpArb: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 40 }),
    fc.constantFrom('\r\n', '--', '\r\n\r\n', '"', ';', '\u0000').map((s) => new Uint8Array(Buffer.from(s, 'latin1'))),
  ) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 300 }) }),
);
const fuzzCaseArb: fc.Arbitrary<FuzzCase> = fc.record({
  deviceId: deviceIdArb,
  image: imageArb,
  // RFC 2046 bchars without the space; quoted in the header when a tspecial needs it (or by chance).
  boundary: fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,70}$/),
  quoteBoundary: fc.boolean(),
  structOps: fc.oneof({ weight: 1, arbitrary: fc.constant<StructOp[]>([]) }, { weight: 3, arbitrary: fc.array(structOpArb, { maxLength: 3 }) }),
  byteOps: fc.oneof({ weight: 1, arbitrary: fc.constant<ByteOp[]>([]) }, { weight: 3, arbitrary: fc.array(byteOpArb, { maxLength: 3 }) }),
  framing: fc.constantFrom<Framing>('content-length', 'content-length', 'content-length', 'chunked', 'short-content-length', 'long-content-length-then-fin'),
  shortBy: fc.integer({ min: 1, max: 300 }),
  chunkBytes: fc.integer({ min: 1, max: 20_000 }),
  httpHeaders: fc.array(fc.tuple(token.map((t) => `X-${t}`), fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?$/)), { maxLength: 3 }),
});

// ---------- building the request ----------

/** Deterministic bytes from a seed (fast-check replays must send the same bytes). */
function prng(seed: number, size: number): Buffer {
  let a = seed >>> 0;
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

function imageBytes(spec: ImageSpec): Buffer {
  const body = prng(spec.seed, spec.size);
  switch (spec.kind) {
    case 'jpeg': return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), body]);
    case 'png': return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), body]);
    case 'gif': return Buffer.concat([Buffer.from('GIF89a'), body]);
    case 'text': return Buffer.from(`not an image ${spec.seed} `.repeat(Math.ceil(spec.size / 20)).slice(0, spec.size + 12));
    case 'tiny': return body.subarray(0, 1 + (spec.size % 11));
    case 'empty': return Buffer.alloc(0);
  }
}

function serialisePart(boundary: string, p: PartModel): Buffer {
  const lines: string[] = [];
  if (p.disposition !== 'no-name' || p.filename !== null) {
    const name = p.name ?? '';
    const nameParam = p.disposition === 'no-name' ? '' : p.disposition === 'unquoted' ? `; name=${name}` : p.disposition === 'extended' ? `; name*=utf-8''${encodeURIComponent(name)}` : `; name="${name}"`;
    const head = p.disposition === 'upper' ? 'CONTENT-DISPOSITION: FORM-DATA' : 'Content-Disposition: form-data';
    lines.push(`${head}${nameParam}${p.filename !== null ? `; filename="${p.filename}"` : ''}`);
  }
  if (p.contentType !== null) lines.push(`Content-Type: ${p.contentType}`);
  lines.push(...p.extraHeaders);
  return Buffer.concat([Buffer.from(`--${boundary}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'utf8'), p.value, Buffer.from('\r\n')]);
}

interface Built { body: Buffer; contentType: string; image: Buffer; pristine: boolean }

function build(fz: FuzzCase): Built {
  const image = imageBytes(fz.image);
  let parts: PartModel[] = [
    { name: 'device_id', filename: null, contentType: null, value: Buffer.from(fz.deviceId, 'utf8'), extraHeaders: [], disposition: 'quoted' },
    { name: 'image', filename: 'photo.jpg', contentType: 'image/jpeg', value: image, extraHeaders: [], disposition: 'quoted' },
  ];
  let headerBoundary = fz.boundary;
  let closing = true;
  const pick = (i: number): PartModel | undefined => parts[i % Math.max(1, parts.length)];
  for (const op of fz.structOps) {
    switch (op.op) {
      case 'drop': parts = parts.filter((_, i) => i !== op.which % Math.max(1, parts.length)); break;
      case 'duplicate': { const p = pick(op.which); if (p) parts.push({ ...p, extraHeaders: [...p.extraHeaders] }); break; }
      case 'swap': { const i = op.i % Math.max(1, parts.length); const j = op.j % Math.max(1, parts.length); const a = parts[i]; const b = parts[j]; if (a && b) { parts[i] = b; parts[j] = a; } break; }
      case 'addField': parts.push({ name: op.name, filename: null, contentType: null, value: Buffer.from(op.value, 'utf8'), extraHeaders: [], disposition: 'quoted' }); break;
      case 'addFile': parts.push({ name: op.name, filename: 'x.bin', contentType: 'application/octet-stream', value: prng(op.size, op.size), extraHeaders: [], disposition: 'quoted' }); break;
      case 'rename': { const p = pick(op.which); if (p) p.name = op.name; break; }
      case 'header': { const p = pick(op.which); if (p) p.extraHeaders.push(op.line.replace(/[\r\n]/g, ' ')); break; }
      case 'disposition': { const p = pick(op.which); if (p) p.disposition = op.form; break; }
      case 'wrongBoundary': headerBoundary = `${fz.boundary}X`; break;
      case 'noClosing': closing = false; break;
    }
  }
  let body = Buffer.concat([...parts.map((p) => serialisePart(fz.boundary, p)), closing ? Buffer.from(`--${fz.boundary}--\r\n`) : Buffer.alloc(0)]);
  for (const op of fz.byteOps) {
    const at = body.length === 0 ? 0 : op.at % (body.length + 1);
    switch (op.op) {
      case 'flip': if (body.length > 0) { body = Buffer.from(body); body[at % body.length] = op.byte; } break;
      case 'truncate': body = body.subarray(0, at); break;
      case 'insert': body = Buffer.concat([body.subarray(0, at), Buffer.from(op.bytes), body.subarray(at)]); break;
      case 'delete': body = Buffer.concat([body.subarray(0, at), body.subarray(at + op.len)]); break;
      case 'repeat': body = Buffer.concat([body.subarray(0, at + op.len), body.subarray(at)]); break;
    }
  }
  const needsQuotes = /[()<>@,;:\\"/[\]?=]/.test(headerBoundary);
  const contentType = `multipart/form-data; boundary=${needsQuotes || fz.quoteBoundary ? `"${headerBoundary}"` : headerBoundary}`;
  return { body, contentType, image, pristine: fz.structOps.length === 0 && fz.byteOps.length === 0 };
}

function steps(fz: FuzzCase, built: Built, rid: string): Step[] {
  const headers: Array<readonly [string, string]> = [['Host', 'gateway.test'], ['X-Request-Id', rid], ['Content-Type', built.contentType], ['Connection', 'close'], ...fz.httpHeaders];
  switch (fz.framing) {
    case 'content-length':
      return [requestHead('POST /image HTTP/1.1', [...headers, ['Content-Length', String(built.body.length)]]), built.body];
    case 'chunked':
      return [requestHead('POST /image HTTP/1.1', [...headers, ['Transfer-Encoding', 'chunked']]), chunked(built.body, fz.chunkBytes)];
    case 'short-content-length':
      return [requestHead('POST /image HTTP/1.1', [...headers, ['Content-Length', String(Math.max(0, built.body.length - fz.shortBy))]]), built.body];
    case 'long-content-length-then-fin':
      return [requestHead('POST /image HTTP/1.1', [...headers, ['Content-Length', String(built.body.length + fz.shortBy)]]), built.body, { halfClose: true }];
  }
}

/** What the service must answer for an unmutated upload with clean framing. */
function pristineExpectation(fz: FuzzCase): { status: number; code?: string } {
  // The server decodes the field as latin1: the UTF-8 bytes we sent must match the pattern as such.
  if (!DEVICE_ID_PATTERN.test(Buffer.from(fz.deviceId, 'utf8').toString('latin1'))) return { status: 400, code: 'invalid_device_id' };
  if (fz.image.kind === 'empty') return { status: 400, code: 'missing_image' };
  // By magic bytes, as the service decides (a 'tiny' random head may be one: JPEG XL's is two bytes).
  if (!sniffImage(imageBytes(fz.image).subarray(0, SNIFF_BYTES))) return { status: 415, code: 'not_an_image' };
  return { status: 202 };
}

function show(res: RawResponse): string {
  if (res.timedOut) return 'a timeout';
  if (res.status === null) return `no answer (${res.socketError ?? 'closed'})`;
  return `${res.status} ${res.body.toString('utf8').slice(0, 200)}`;
}

// ---------- the property ----------

describe('POST /image multipart fuzz (fast-check)', () => {
  let s3: TestS3;
  let svc: ObservedService;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => { uncaught.push(err); };
  let runs = 0;
  const outcomes = new Map<string, number>();

  beforeAll(async () => {
    s3 = await startTestS3();
    svc = await startObservedService(s3, {
      MAX_IMAGE_BYTES: String(MAX), UPLOAD_BWLIMIT: '50MB', KEEP_UPLOADED_FILES: 'true', SPOOL_MIN_FREE_BYTES: '0', INGEST_BODY_TIMEOUT_MS: '10000',
    });
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await svc?.close();
    await s3?.close();
  });

  const partFiles = async (): Promise<string[]> => (await svc.files()).filter((f) => f.endsWith('.part'));

  // Generous for a loaded 2-core machine: a run is one request of a few ms; a hang is caught per request (3 s).
  it.each(PLAN)('seed $seed, $runs runs ($why): a correct receipt or a 4xx JSON error for every mutated upload', async ({ seed, runs: numRuns }) => {
    const started = Date.now();
    const before = runs;
    outcomes.clear();
    await fc.assert(
      fc.asyncProperty(fuzzCaseArb, async (fz) => {
        runs++;
        const rid = `fz-${runs}`;
        const built = build(fz);
        const rowsBefore = new Set(svc.rows().map((r) => r.id));
        const uncaughtBefore = uncaught.length;

        const res = await rawExchange(svc.port, steps(fz, built, rid), 3000);
        const partsAtAnswer = await partFiles();
        // The app must finish every request it saw (all heads here are valid), releasing its slot.
        const finished = await waitFor(() => svc.logs.find((l) => l['req_id'] === rid && l['msg'] === 'request'), 2000, 'access log').catch(() => undefined);
        const context = `run ${rid} (${fz.framing}, ${built.body.length} bytes): got ${show(res)}`;

        expect(uncaught.slice(uncaughtBefore).map(String), `uncaught exception: ${context}`).toEqual([]);
        expect(res.timedOut, `hang: ${context}`).toBe(false);
        if (res.status !== null) expect(res.status, context).toBeLessThan(500);
        expect(finished, `the app never finished the request: ${context}`).toBeDefined();
        if (finished) expect(finished['status'] as number, `the app's own answer: ${context}`).toBeLessThan(500);

        const cleanFraming = fz.framing === 'content-length' || fz.framing === 'chunked';
        if (cleanFraming) expect(res.status, `no answer to a complete request: ${context}`).not.toBeNull();
        const key = res.status === null ? 'closed' : `${res.status}${res.headers['content-type']?.startsWith('application/json') ? ` ${(JSON.parse(res.body.toString('utf8')) as { error?: { code?: string } }).error?.code ?? ''}`.trimEnd() : ' bare'}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);

        const rowsAfter = svc.rows();
        const newRows = rowsAfter.filter((r) => !rowsBefore.has(r.id));
        if (res.status === 202 || res.status === 200) {
          const receipt = JSON.parse(res.body.toString('utf8')) as { id: string; device_id: string; sha256: string; bytes: number; content_type: string; duplicate?: boolean };
          const row = rowsAfter.find((r) => r.id === receipt.id);
          expect(row, `a receipt without a row: ${context}`).toBeDefined();
          if (res.status === 202) expect(newRows.map((r) => r.id), context).toEqual([receipt.id]);
          else expect({ duplicate: receipt.duplicate, newRows: newRows.length }, `200 is only for a resend: ${context}`).toEqual({ duplicate: true, newRows: 0 });
          if (!row) return;
          expect({ device_id: row.device_id, sha256: row.sha256, content_type: row.content_type }).toEqual({ device_id: receipt.device_id, sha256: receipt.sha256, content_type: receipt.content_type });
          expect(DEVICE_ID_PATTERN.test(row.device_id), context).toBe(true);
          const stored = await readFile(path.join(svc.spoolDir, row.path));
          expect(sha256Hex(stored), `stored file intact: ${context}`).toBe(row.sha256);
          expect(stored.length).toBe(receipt.bytes);
          if (res.status === 202) {
            // What was stored is one contiguous run of the bytes we sent, and its magic bytes decide its type.
            expect(built.body.indexOf(stored) >= 0, `stored bytes are not a slice of the request: ${context}`).toBe(true);
            expect(built.body.indexOf(Buffer.from(row.device_id, 'latin1')) >= 0, context).toBe(true);
          }
          expect(sniffImage(stored.subarray(0, SNIFF_BYTES))?.contentType, context).toBe(row.content_type);
          expect(path.basename(row.path).startsWith(row.id), context).toBe(true);
        } else if (res.status !== null && res.headers['content-type']?.startsWith('application/json')) {
          const body = JSON.parse(res.body.toString('utf8')) as { error?: { code?: unknown; message?: unknown } };
          expect(res.status, context).toBeGreaterThanOrEqual(400);
          expect(CLIENT_ERROR_CODES.has(body.error?.code as string), `unknown error code: ${context}`).toBe(true);
          expect(typeof body.error?.message === 'string' && body.error.message.length > 5, context).toBe(true);
          expect(partsAtAnswer, `.part file left at the answer: ${context}`).toEqual([]);
          expect(newRows, `a refused upload left a row: ${context}`).toEqual([]);
        } else {
          // No answer, or Node's bare 400 for the bytes after a short Content-Length: only then.
          expect(cleanFraming, `a bare answer or none to a well-framed request: ${context}`).toBe(false);
          if (res.status !== null) expect(res.status, context).toBe(400);
          // The app may have acknowledged into a dead connection; then its log says so.
          if (newRows.length > 0) expect({ rows: newRows.length, status: finished?.['status'] }, context).toEqual({ rows: 1, status: 202 });
        }
        if (built.pristine && cleanFraming) {
          const want = pristineExpectation(fz);
          expect(res.status === 200 ? 202 : res.status, `unmutated upload: ${context}`).toBe(want.status);
          if (want.code) expect(res.body.toString('utf8'), context).toContain(`"code":"${want.code}"`);
          else expect((JSON.parse(res.body.toString('utf8')) as { sha256: string }).sha256, context).toBe(sha256Hex(built.image));
        }
        await waitFor(async () => ((await partFiles()).length === 0 ? true : undefined), 2000, `no .part file after ${rid}`);
      }),
      // npm test reports the first failing request as generated (seed and path replay it): shrinking a crash
      // costs a 3 s timeout per attempt. npm run fuzz shrinks it to a small counterexample.
      { numRuns, seed, endOnFailure: RANDOM === null },
    );
    console.log(`multipart fuzz, seed ${seed}: ${runs - before} requests in ${Date.now() - started} ms; outcomes ${JSON.stringify(Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])))}`);
    expect(runs - before).toBe(numRuns);
  }, RANDOM ? 60_000 + RANDOM.runs * 1000 : 120_000);

  it('afterwards: healthy, takes a valid upload, no .part file, and every file belongs to a row', async () => {
    expect((await fetch(`${svc.baseUrl}/healthz`)).status).toBe(200);
    const image = fakeJpeg(3000);
    const body = Buffer.concat([
      Buffer.from('--zz\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ncam-after-fuzz\r\n--zz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'),
      image, Buffer.from('\r\n--zz--\r\n'),
    ]);
    const res = await rawExchange(svc.port, [requestHead('POST /image HTTP/1.1', [['Host', 'x'], ['Content-Type', 'multipart/form-data; boundary=zz'], ['Content-Length', String(body.length)], ['Connection', 'close']]), body]);
    expect(res.status, show(res)).toBe(202);
    expect((JSON.parse(res.body.toString('utf8')) as { sha256: string }).sha256).toBe(sha256Hex(image));
    await waitFor(async () => ((await partFiles()).length === 0 ? true : undefined), 5000, 'no .part files');
    const rows = svc.rows();
    expect((await svc.files()).sort()).toEqual(rows.map((r) => path.basename(r.path)).sort());
    expect(uncaught.map(String), 'uncaught exceptions during the fuzz').toEqual([]);
  });
});
