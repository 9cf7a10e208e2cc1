import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type busboy from 'busboy';
import { SpoolError } from '../errors.js';
import { connectionGone, guardBodyPace, type BodyPace } from '../http/body-pace.js';
import { createFormParser, feedParser, fenced, fieldDeviceId, fieldImageBytes, tooManyFields } from '../http/form-parser.js';
import { DEVICE_ID_PATTERN, MAX_FIELD_IMAGE_BYTES } from '../http/limits.js';
import type { SpooledFile, SpoolStore } from '../spool/store.js';

export interface ManyImagesOptions {
  maxImageBytes: number;
  /** Most image parts one request may carry; beyond it 400 too_many_images. */
  maxImages: number;
  pace: BodyPace;
  /** The link's device: the form's device_id is then optional and, when given, must be the same. */
  fixedDeviceId: string | null;
  /**
   * Called as each image part begins, before any of it is written: returns the new image's id, or throws
   * (a used-up quota, a revoked link) to refuse the whole request.
   */
  onImage: () => string;
  /**
   * Called with each piece of an image before it is written: reserves spool space for it (or throws 507 to
   * refuse the whole request), so the images' bytes are counted as they arrive, however many there are.
   */
  reserve?: (bytes: number) => Promise<void>;
  /** Called as each image is complete on disk (fsynced under its temporary name). */
  written?: (bytes: number) => void;
}

export interface ReceivedImages {
  deviceId: string;
  /** In the order of the parts; each fsynced under its temporary name. */
  files: SpooledFile[];
}

/**
 * The upload-link sibling of `receiveMultipart` (src/http/multipart.ts): the same busboy stream parsing,
 * device_id rules, field-image allowance and slow-body guard, but any number of `image` parts (up to
 * `maxImages`), each streamed in turn to its own `<id>.part`. All or nothing: on any failure every file of
 * the request is removed before the error is reported.
 */
export function receiveManyImages(req: IncomingMessage, store: SpoolStore, options: ManyImagesOptions): Promise<ReceivedImages> {
  return new Promise<ReceivedImages>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = createFormParser(req, { files: options.maxImages, ...formLimits(options.maxImages), fieldSize: MAX_FIELD_IMAGE_BYTES, fileSize: options.maxImageBytes + 1 });
    } catch (err) {
      reject(err);
      return;
    }
    new ManyImagesAssembly(req, parser, store, options, resolve, reject).run();
  });
}

class ManyImagesAssembly {
  private deviceId: string | undefined;
  private images = 0;
  /** Parts are written one after another: each link waits for the previous file to be fsynced. */
  private chain: Promise<void> = Promise.resolve();
  private readonly files: SpooledFile[] = [];
  private readonly sources: Readable[] = [];
  private failed = false;
  private resolved = false;
  private stopPace: (() => void) | null = null;
  private stopFeed: (() => void) | null = null;
  /** Every callback goes through it: a throw fails this request only (src/http/form-parser.ts). */
  private readonly fence = <A extends unknown[]>(fn: (...args: A) => void): ((...args: A) => void) => fenced((err) => this.fail(err), fn);

  constructor(
    private readonly req: IncomingMessage,
    private readonly parser: busboy.Busboy,
    private readonly store: SpoolStore,
    private readonly options: ManyImagesOptions,
    private readonly resolve: (r: ReceivedImages) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  run(): void {
    if (connectionGone(this.req)) {
      this.fail(new SpoolError('invalid_request', 'the connection closed before the upload could be read'));
      return;
    }
    const fence = this.fence;
    this.req.once('close', fence(() => {
      if (!this.req.complete) this.fail(new SpoolError('invalid_request', 'client closed the connection before the upload finished'));
    }));
    this.stopPace = guardBodyPace(this.req, this.options.pace, fence((err: unknown) => this.fail(err)));
    this.parser.on('field', fence((name: string, value: string | undefined, info: busboy.FieldInfo) => this.onField(name, value, info.valueTruncated)));
    this.parser.on('file', fence((name: string, stream: Readable) => this.onFile(name, stream)));
    this.parser.on('filesLimit', fence(() => this.fail(tooMany(this.options.maxImages))));
    const limits = formLimits(this.options.maxImages);
    this.parser.on('fieldsLimit', fence(() => this.fail(tooManyFields('plain fields', limits.fields))));
    this.parser.on('partsLimit', fence(() => this.fail(tooManyFields('parts', limits.parts))));
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
        this.fail(new SpoolError('invalid_request', 'device_id is given twice with different values; which device sent the images is ambiguous'));
        return;
      }
      this.deviceId = value;
      const fixed = this.options.fixedDeviceId;
      if (fixed !== null && value !== fixed) {
        this.fail(new SpoolError('invalid_request',
          `this upload link stores images as device ${JSON.stringify(fixed)}; leave device_id out or send that value, not ${JSON.stringify(value.slice(0, 80))}`));
        return;
      }
      if (!DEVICE_ID_PATTERN.test(value)) {
        this.fail(new SpoolError('invalid_device_id', `device_id ${JSON.stringify(value.slice(0, 80))} must match ${DEVICE_ID_PATTERN.source}`));
      }
    } else if (name === 'image') {
      if (truncated) {
        this.fail(new SpoolError('image_too_large', `an image sent as a plain form field is limited to ${MAX_FIELD_IMAGE_BYTES} bytes; send it as a file part`));
        return;
      }
      this.startWrite(Readable.from([fieldImageBytes(raw)]));
    }
  }

  private onFile(name: string, stream: Readable): void {
    // Keeps an unhandled stream error (a form that ends early; a destroyed part) from crashing the process.
    stream.on('error', () => undefined);
    if (name !== 'image') {
      stream.resume();
      return;
    }
    stream.on('limit', this.fence(() => stream.destroy(new SpoolError('image_too_large', 'image exceeds MAX_IMAGE_BYTES'))));
    this.startWrite(stream);
  }

  private startWrite(source: Readable): void {
    if (this.failed) {
      source.resume();
      return;
    }
    this.images++;
    if (this.images > this.options.maxImages) {
      source.resume();
      this.fail(tooMany(this.options.maxImages));
      return;
    }
    let id: string;
    try {
      id = this.options.onImage();
    } catch (err) {
      source.resume();
      this.fail(err);
      return;
    }
    this.sources.push(source);
    // Unread, the part holds busboy (and so the request) back: the body arrives no faster than the disk takes it.
    this.chain = this.chain.then(async () => {
      if (this.failed) {
        source.destroy();
        return;
      }
      const reserve = this.options.reserve;
      const file = await this.store.receive(id, reserve ? reserved(source, reserve) : source);
      this.files.push(file);
      this.options.written?.(file.bytes);
    });
    // Failures surface in finish(); fail early too so the client is not kept sending a doomed body.
    this.chain.catch((err: unknown) => this.fail(err));
  }

  private async finish(): Promise<void> {
    if (this.failed) return;
    try {
      await this.chain;
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.failed) return;
    if (this.images === 0) {
      this.fail(new SpoolError('missing_image', 'the form has no "image" part'));
      return;
    }
    const deviceId = this.options.fixedDeviceId ?? this.deviceId;
    if (deviceId === undefined) {
      this.fail(new SpoolError('missing_device_id', 'the form has no "device_id" field (this upload link does not fix one)'));
      return;
    }
    this.stopPaceGuard();
    this.resolved = true;
    this.resolve({ deviceId, files: [...this.files] });
  }

  /** The first failure wins; every file of the request is removed once its writer has stopped. Never throws. */
  private fail(err: unknown): void {
    if (this.failed || this.resolved) return;
    this.failed = true;
    try {
      this.stopPaceGuard();
      this.stopFeed?.();
      this.req.resume();
      // Unfinished parts never end now that the parser is no longer fed: stop their writers (which unlink).
      for (const source of this.sources) source.destroy();
    } finally {
      const cleanup = this.chain.catch(() => undefined)
        .then(() => Promise.all(this.files.map((f) => this.store.discard(f.tmpPath).catch(() => undefined))));
      void cleanup.finally(() => this.reject(err));
    }
  }
}

/** Plain fields and parts beyond the image parts a link request may carry; beyond either, 400 too_many_fields. */
function formLimits(maxImages: number): { fields: number; parts: number } {
  return { fields: 20, parts: maxImages + 40 };
}

/** The part's pieces, each passed on only once its space is reserved. */
async function* reserved(source: AsyncIterable<Buffer>, reserve: (bytes: number) => Promise<void>): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    await reserve(chunk.length);
    yield chunk;
  }
}

function tooMany(max: number): SpoolError {
  return new SpoolError('too_many_images', `an upload link request carries at most ${max} image parts; send the rest in another request`);
}
