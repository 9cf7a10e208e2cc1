import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type busboy from 'busboy';
import { SpoolError } from '../errors.js';
import type { SpooledFile, SpoolStore } from '../spool/store.js';
import { connectionGone, guardBodyPace, type BodyPace } from './body-pace.js';
import { useNativeBoundarySearch } from './boundary-search.js';
import { createFormParser, feedParser, fenced, fieldDeviceId, fieldImageBytes, tooManyFields } from './form-parser.js';

export type { BodyPace } from './body-pace.js';

import { DEVICE_ID_PATTERN, FORM_LIMITS, MAX_FIELD_IMAGE_BYTES } from './limits.js';


export interface ReceivedUpload {
  deviceId: string;
  file: SpooledFile;
}

/**
 * Parses `multipart/form-data` straight off the Node request with busboy (Hono's parseBody would buffer
 * whole files) and streams the `image` part into the spool. Resolves once the file is fsynced under its
 * temporary name; on any failure the temporary file is gone and the error says why.
 */
export function receiveMultipart(req: IncomingMessage, store: SpoolStore, id: string, maxImageBytes: number,
  pace: BodyPace = { windowMs: 30_000, minBytesPerSec: 1000 },
  /** The device a device token proved (DEVICE_AUTH=token): the form may omit device_id, or must repeat it. */
  tokenDevice: string | null = null): Promise<ReceivedUpload> {
  return new Promise<ReceivedUpload>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = createFormParser(req, { files: 1, ...FORM_LIMITS, fieldSize: MAX_FIELD_IMAGE_BYTES, fileSize: maxImageBytes + 1 });
    } catch (err) {
      reject(err);
      return;
    }
    useNativeBoundarySearch(parser); // false only if busboy changed; a unit test pins it
    new UploadAssembly(req, parser, store, id, tokenDevice, resolve, reject).run(pace);
  });
}

class UploadAssembly {
  private deviceId: string | undefined;
  private writing: Promise<SpooledFile> | null = null;
  private source: Readable | null = null;
  private failed = false;
  /** Resolved: the file now belongs to the caller; a late 'close' must not touch it. */
  private resolved = false;
  private stopPace: (() => void) | null = null;
  private stopFeed: (() => void) | null = null;
  /** Every callback of this request's parser, streams and timers goes through it: a throw fails this request only. */
  private readonly fence = <A extends unknown[]>(fn: (...args: A) => void): ((...args: A) => void) => fenced((err) => this.fail(err), fn);

  constructor(
    private readonly req: IncomingMessage,
    private readonly parser: busboy.Busboy,
    private readonly store: SpoolStore,
    private readonly id: string,
    private readonly tokenDevice: string | null,
    private readonly resolve: (u: ReceivedUpload) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  run(pace: BodyPace): void {
    // The connection may already be gone (reset, or a protocol error Node answered itself) while admission
    // was deciding: settle now, or the request would hold its ingest slot until the pace guard fires.
    if (connectionGone(this.req)) {
      this.fail(new SpoolError('invalid_request', 'the connection closed before the upload could be read'));
      return;
    }
    const fence = this.fence;
    this.req.once('close', fence(() => {
      if (!this.req.complete) this.fail(new SpoolError('invalid_request', 'client closed the connection before the upload finished'));
    }));
    this.stopPace = guardBodyPace(this.req, pace, fence((err: unknown) => this.fail(err)));
    this.parser.on('field', fence((name: string, value: string | undefined, info: busboy.FieldInfo) => this.onField(name, value, info.valueTruncated)));
    this.parser.on('file', fence((name: string, stream: Readable) => this.onFile(name, stream)));
    this.parser.on('filesLimit', fence(() => this.fail(new SpoolError('too_many_images', 'send exactly one image part per request'))));
    this.parser.on('fieldsLimit', fence(() => this.fail(tooManyFields('plain fields', FORM_LIMITS.fields))));
    this.parser.on('partsLimit', fence(() => this.fail(tooManyFields('parts', FORM_LIMITS.parts))));
    this.parser.on('error', fence((err: unknown) => this.fail(new SpoolError('invalid_request', `malformed multipart body: ${(err as Error).message}`, { cause: err }))));
    this.parser.on('close', fence(() => { this.finish().catch((err: unknown) => this.fail(err)); }));
    this.req.on('aborted', fence(() => this.fail(new SpoolError('invalid_request', 'client closed the connection before the upload finished'))));
    this.stopFeed = feedParser(this.req, this.parser, (err) => this.fail(err));
  }

  private stopPaceGuard(): void {
    this.stopPace?.();
    this.stopPace = null;
  }

  private onField(name: string, raw: string | undefined, truncated: boolean): void {
    if (name === 'device_id') {
      const value = fieldDeviceId(raw);
      if (this.deviceId !== undefined && this.deviceId !== value) {
        this.fail(new SpoolError('invalid_request', 'device_id is given twice with different values; which device sent the image is ambiguous'));
        return;
      }
      this.deviceId = value;
      if (this.tokenDevice !== null && value !== this.tokenDevice) {
        this.fail(new SpoolError('device_mismatch', `this device token belongs to ${JSON.stringify(this.tokenDevice)}, not ${JSON.stringify(value.slice(0, 80))}`));
        return;
      }
      // Fail fast: do not spool a 4 MB body for a device id we will refuse anyway.
      if (!DEVICE_ID_PATTERN.test(value)) this.fail(invalidDeviceId(value));
    } else if (name === 'image') {
      if (truncated) {
        this.fail(new SpoolError('image_too_large', `an image sent as a plain form field is limited to ${MAX_FIELD_IMAGE_BYTES} bytes; send it as a file part`));
        return;
      }
      this.startWrite(Readable.from([fieldImageBytes(raw)]));
    }
  }

  private onFile(name: string, stream: Readable): void {
    // busboy destroys an open file stream with an error when the form ends early; the parser's own 'error'
    // reports that, so this listener only keeps an unhandled stream error from crashing the process.
    stream.on('error', () => undefined);
    if (name !== 'image') {
      stream.resume(); // unknown file parts are ignored, not buffered
      return;
    }
    stream.on('limit', this.fence(() => stream.destroy(new SpoolError('image_too_large', 'image exceeds MAX_IMAGE_BYTES'))));
    this.startWrite(stream);
  }

  private startWrite(source: Readable): void {
    if (this.failed) {
      source.resume(); // the answer is already decided: never start a file for a refused request
      return;
    }
    if (this.writing) {
      source.resume();
      this.fail(new SpoolError('too_many_images', 'send exactly one image part per request'));
      return;
    }
    this.source = source;
    this.writing = this.store.receive(this.id, source, declaredLength(this.req));
    // Failures surface in finish(); fail early too so the client is not kept sending a doomed body.
    this.writing.catch((err: unknown) => this.fail(err));
  }

  private async finish(): Promise<void> {
    if (this.failed) return;
    if (!this.writing) {
      this.fail(new SpoolError('missing_image', 'the form has no "image" part'));
      return;
    }
    let file: SpooledFile;
    try {
      file = await this.writing;
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.failed) return;
    this.deviceId ??= this.tokenDevice ?? undefined;
    if (this.deviceId === undefined) {
      await this.store.discard(file.tmpPath).catch(() => undefined); // recovery removes a leftover .part
      this.fail(new SpoolError('missing_device_id', 'the form has no "device_id" field'));
      return;
    }
    this.stopPaceGuard();
    this.resolved = true;
    this.resolve({ deviceId: this.deviceId, file });
  }

  /** The first failure wins; the temporary file is removed once its writer has stopped. Never throws. */
  private fail(err: unknown): void {
    if (this.failed || this.resolved) return;
    this.failed = true;
    try {
      this.stopPaceGuard();
      this.stopFeed?.();
      // Keep reading (and discarding) so the client sees our answer instead of a stalled upload.
      this.req.resume();
      // An unfinished part will never end now that the parser is no longer fed: stop its writer, which unlinks.
      // No error argument: a finished stream has no 'error' listener left, and an emitted error would crash.
      this.source?.destroy();
    } finally {
      const writing = this.writing;
      const cleanup = writing ? writing.then((f) => this.store.discard(f.tmpPath)).catch(() => undefined) : Promise.resolve();
      void cleanup.finally(() => this.reject(err));
    }
  }
}

/** Content-Length when the request declares one (an upper bound of the image's size), else undefined. */
function declaredLength(req: IncomingMessage): number | undefined {
  const n = Number(req.headers['content-length']);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function invalidDeviceId(value: string): SpoolError {
  return new SpoolError('invalid_device_id', `device_id ${JSON.stringify(value.slice(0, 80))} must match ${DEVICE_ID_PATTERN.source}`);
}
