import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { SpoolError } from '../errors.js';
import type { SpooledFile, SpoolStore } from '../spool/store.js';
import { connectionGone, guardBodyPace, type BodyPace } from './body-pace.js';
import { JsonImageDecoder } from './json-image-decoder.js';
import { DEVICE_ID_PATTERN, JSON_ENVELOPE_BYTES } from './limits.js';
import type { ReceivedUpload } from './multipart.js';

/** Base64 grows 4/3, plus the JSON around it. */
export function maxJsonBodyBytes(maxImageBytes: number): number {
  return Math.ceil(maxImageBytes / 3) * 4 + JSON_ENVELOPE_BYTES;
}

/**
 * POST /image with `application/json` `{"device_id": "...", "image": "<base64>"}` (a shape some seed
 * clients use). The body is decoded as it streams, straight into the spool like a multipart file part: a
 * request holds a chunk or two of it, whatever its length (20 concurrent 65 MB bodies once took the process
 * from 159 MB to 5.1 GB when each was read whole, then parsed, then decoded). Size-limited by Content-Length
 * before reading (ingest.ts) and while reading.
 */
export async function receiveJson(req: IncomingMessage, store: SpoolStore, id: string, maxImageBytes: number, pace: BodyPace, tokenDevice: string | null): Promise<ReceivedUpload> {
  if (connectionGone(req)) throw new SpoolError('invalid_request', 'the connection closed before the upload could be read');
  const device = new DeviceField(tokenDevice);
  const body = new JsonImageBody(maxJsonBodyBytes(maxImageBytes), device);
  let failure: unknown = null;
  const fail = (err: unknown): void => {
    if (failure !== null) return;
    failure = err;
    stopPace();
    req.unpipe(body);
    req.resume(); // keep reading (and discarding) so the client sees the answer
    body.destroy(err instanceof Error ? err : undefined);
  };
  const stopPace = guardBodyPace(req, pace, fail);
  req.once('close', () => {
    if (!req.complete) fail(new SpoolError('invalid_request', 'client closed the connection before the upload finished'));
  });
  // The store stopping early (not an image, too large, disk full) tears the body down with an AbortError:
  // the store's own error, caught below, is the answer.
  body.on('error', (err) => { if (err.name !== 'AbortError') fail(err); });
  req.pipe(body);
  let file: SpooledFile;
  try {
    file = await store.receive(id, body, imageSizeHint(req));
  } catch (err) {
    fail(err);
    throw failure;
  }
  stopPace();
  if (failure !== null) {
    await store.discard(file.tmpPath); // refused after its last byte (e.g. the pace guard fired meanwhile)
    throw failure;
  }
  return { deviceId: device.value(), file };
}

/** Request bytes in, decoded image bytes out; `device_id` and the object's shape checked on the way. */
class JsonImageBody extends Transform {
  private received = 0;
  private readonly decoder: JsonImageDecoder;

  constructor(private readonly limit: number, private readonly device: DeviceField) {
    super({ writableHighWaterMark: 64 * 1024, readableHighWaterMark: 64 * 1024 });
    this.decoder = new JsonImageDecoder({
      image: (bytes) => { this.push(bytes); },
      member: (name, value) => { if (name === 'device_id') device.take(value); },
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    try {
      if (this.received > this.limit) {
        throw new SpoolError('image_too_large', `JSON body exceeds ${this.limit} bytes (the base64 of MAX_IMAGE_BYTES)`, { headers: { Connection: 'close' } });
      }
      this.decoder.write(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** The whole body is in: it must have been one object with a non-empty image and a device. */
  override _flush(done: TransformCallback): void {
    try {
      this.decoder.end();
      const image = this.decoder.image;
      if (!image.seen) throw new SpoolError('missing_image', 'the JSON body has no "image" string (base64)');
      if (image.chars === 0) throw new SpoolError('missing_image', '"image" is empty');
      this.device.value();
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

/** `device_id` as the body gives it, checked the moment it arrives: a refused device costs no spooled image. */
class DeviceField {
  private given: string | undefined;

  constructor(private readonly tokenDevice: string | null) {}

  take(value: unknown): void {
    if (typeof value !== 'string') throw new SpoolError('invalid_device_id', '"device_id" must be a string');
    if (this.given !== undefined && this.given !== value) {
      throw new SpoolError('invalid_request', 'device_id is given twice with different values; which device sent the image is ambiguous');
    }
    if (this.tokenDevice !== null && value !== this.tokenDevice) {
      throw new SpoolError('device_mismatch', `this device token belongs to ${JSON.stringify(this.tokenDevice)}, not ${JSON.stringify(value.slice(0, 80))}`);
    }
    if (!DEVICE_ID_PATTERN.test(value)) {
      throw new SpoolError('invalid_device_id', `device_id ${JSON.stringify(value.slice(0, 80))} must match ${DEVICE_ID_PATTERN.source}`);
    }
    this.given = value;
  }

  value(): string {
    const device = this.given ?? this.tokenDevice;
    if (device === null) throw new SpoolError('missing_device_id', 'the JSON body has no "device_id"');
    return device;
  }
}

/** Roughly the decoded size (3/4 of Content-Length): the store only uses it to tell small bodies from large. */
function imageSizeHint(req: IncomingMessage): number | undefined {
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared >= 0 ? Math.floor((declared * 3) / 4) : undefined;
}
