import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { SpoolError } from '../errors.js';
import type { SpoolStore } from '../spool/store.js';
import { guardBodyPace, type BodyPace } from './body-pace.js';
import { DEVICE_ID_PATTERN, type ReceivedUpload } from './multipart.js';

/** Base64 grows 4/3, plus the JSON around it. */
export function maxJsonBodyBytes(maxImageBytes: number): number {
  return Math.ceil(maxImageBytes / 3) * 4 + 4096;
}

/**
 * POST /image with `application/json` `{"device_id": "...", "image": "<base64>"}` (a shape some seed
 * clients use). The body is size-limited before and while it is read (never more than the base64 of
 * MAX_IMAGE_BYTES), then the decoded bytes go through the same spool path as a multipart upload. Unlike
 * multipart it is held in memory (at most ~4/3 of MAX_IMAGE_BYTES per request): devices that can stream
 * should send multipart.
 */
export async function receiveJson(req: IncomingMessage, store: SpoolStore, id: string, maxImageBytes: number, pace: BodyPace, tokenDevice: string | null): Promise<ReceivedUpload> {
  const raw = await readLimited(req, maxJsonBodyBytes(maxImageBytes), pace);
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new SpoolError('invalid_request', 'the body is not valid JSON; expected {"device_id": "...", "image": "<base64>"}');
  }
  const { deviceId, image } = fields(body, tokenDevice);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(image) || image.length % 4 !== 0) {
    throw new SpoolError('invalid_request', '"image" must be standard base64 (A-Z, a-z, 0-9, +, /, = padding)');
  }
  const bytes = Buffer.from(image, 'base64');
  if (bytes.length === 0) throw new SpoolError('missing_image', '"image" is empty');
  if (bytes.length > maxImageBytes) throw new SpoolError('image_too_large', `image exceeds MAX_IMAGE_BYTES (${maxImageBytes} bytes)`);
  const file = await store.receive(id, Readable.from([bytes]), bytes.length);
  return { deviceId, file };
}

function fields(body: unknown, tokenDevice: string | null): { deviceId: string; image: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SpoolError('invalid_request', 'expected a JSON object {"device_id": "...", "image": "<base64>"}');
  }
  const b = body as Record<string, unknown>;
  if (typeof b['image'] !== 'string') throw new SpoolError('missing_image', 'the JSON body has no "image" string (base64)');
  const given = b['device_id'];
  if (given !== undefined && typeof given !== 'string') throw new SpoolError('invalid_device_id', '"device_id" must be a string');
  if (tokenDevice !== null && given !== undefined && given !== tokenDevice) {
    throw new SpoolError('device_mismatch', `this device token belongs to ${JSON.stringify(tokenDevice)}, not ${JSON.stringify(given.slice(0, 80))}`);
  }
  const deviceId = given ?? tokenDevice;
  if (deviceId === null || deviceId === undefined) throw new SpoolError('missing_device_id', 'the JSON body has no "device_id"');
  if (!DEVICE_ID_PATTERN.test(deviceId)) {
    throw new SpoolError('invalid_device_id', `device_id ${JSON.stringify(deviceId.slice(0, 80))} must match ${DEVICE_ID_PATTERN.source}`);
  }
  return { deviceId, image: b['image'] };
}

function readLimited(req: IncomingMessage, limit: number, pace: BodyPace): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: SpoolError | null): void => {
      if (done) return;
      done = true;
      stopPace();
      if (err) {
        req.resume(); // drain and discard, so the client reads the answer
        reject(err);
      } else resolve(Buffer.concat(chunks));
    };
    const stopPace = guardBodyPace(req, pace, (err) => finish(err));
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) finish(new SpoolError('image_too_large', `JSON body exceeds ${limit} bytes (the base64 of MAX_IMAGE_BYTES)`, { headers: { Connection: 'close' } }));
      else chunks.push(chunk);
    });
    req.on('end', () => finish(null));
    req.on('close', () => { if (!req.complete) finish(new SpoolError('invalid_request', 'client closed the connection before the upload finished')); });
    req.on('error', () => finish(new SpoolError('invalid_request', 'the request body could not be read')));
  });
}
