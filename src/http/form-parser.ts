import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { SpoolError, errorMessage } from '../errors.js';

/**
 * What POST /image and upload links share around busboy: its creation from a lenient Content-Type, feeding
 * it the request, and a fence around every callback. busboy emits its events synchronously from inside
 * `write()`, which runs inside the request stream's 'data' event: a throw there (busboy's own, or one of our
 * listeners', such as `Buffer.from(undefined)` for a field in a charset busboy cannot decode) would leave
 * the request and take the whole process down. Here it fails only that request.
 */

/** Creates the parser; 415 unsupported_media_type when the Content-Type is no usable multipart/form-data. */
export function createFormParser(req: IncomingMessage, limits: busboy.Limits): busboy.Busboy {
  const contentType = req.headers['content-type'];
  try {
    return busboy({
      headers: { ...req.headers, ...(contentType === undefined ? {} : { 'content-type': withoutEmptyParameters(contentType) }) },
      // latin1 maps every byte to one char, so an image sent as a plain field round-trips exactly.
      defCharset: 'latin1',
      // Small buffers: 150 devices uploading at once must not cost 150 x (default) read-ahead in RSS.
      highWaterMark: 32 * 1024,
      fileHwm: 32 * 1024,
      limits,
    });
  } catch (err) {
    throw new SpoolError('unsupported_media_type', 'expected multipart/form-data with a boundary', { cause: err });
  }
}

/**
 * `multipart/form-data;; boundary=x` -> `multipart/form-data; boundary=x`. curl 7.88 writes the double `;`
 * when a script gives the Content-Type header itself (`-H "Content-Type: multipart/form-data" --form ...`).
 * An empty parameter carries nothing, but busboy refuses the whole header for it. Quoted strings are kept.
 */
export function withoutEmptyParameters(value: string): string {
  const segments: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (quoted && ch === '\\' && i + 1 < value.length) {
      current += ch + (value[++i] as string);
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      segments.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  segments.push(current);
  const [type = '', ...params] = segments.map((s) => s.trim());
  return [type, ...params.filter((p) => p !== '')].join('; ');
}

/**
 * Feeds the request to the parser as `pipe()` would (pausing while the parser is full), but a throw while a
 * chunk is parsed goes to `fail` instead of up the stream's emit. Returns a function that stops feeding.
 */
export function feedParser(req: IncomingMessage, parser: busboy.Busboy, fail: (err: unknown) => void): () => void {
  const onData = (chunk: Buffer): void => {
    try {
      if (!parser.write(chunk)) req.pause();
    } catch (err) {
      fail(asFormError(err));
    }
  };
  const onDrain = (): void => { req.resume(); };
  const onEnd = (): void => {
    try {
      parser.end();
    } catch (err) {
      fail(asFormError(err));
    }
  };
  req.on('data', onData);
  req.once('end', onEnd);
  parser.on('drain', onDrain);
  req.resume(); // as pipe() does: a request paused before (admission, the read slots) starts flowing
  return () => {
    req.off('data', onData);
    req.off('end', onEnd);
    parser.off('drain', onDrain);
  };
}

/** Wraps a parser or stream callback so that a throw fails this request (see the top of this file). */
export function fenced<A extends unknown[]>(fail: (err: unknown) => void, fn: (...args: A) => void): (...args: A) => void {
  return (...args: A): void => {
    try {
      fn(...args);
    } catch (err) {
      fail(asFormError(err));
    }
  };
}

/** A SpoolError keeps its code; anything else thrown while a form is read is that form's fault: 400. */
export function asFormError(err: unknown): SpoolError {
  if (err instanceof SpoolError) return err;
  return new SpoolError('invalid_request', `the form could not be read: ${errorMessage(err)}`, { cause: err });
}

/**
 * The bytes of an image sent as a plain field. busboy decodes a field by its part's charset and hands
 * `undefined` for one it does not know (utf-16, shift_jis); a decoded string with characters above U+00FF
 * cannot be turned back into the bytes sent. Both are refused: such an image must come as a file part.
 */
export function fieldImageBytes(value: string | undefined): Buffer {
  if (value === undefined || /[^\x00-\xff]/.test(value)) {
    throw new SpoolError('unsupported_media_type',
      'the image field declares a charset whose text cannot be read back as the bytes sent; send the image as a file part (with a filename), or as a field without a charset');
  }
  return Buffer.from(value, 'latin1');
}

/** A device_id field as busboy decoded it; `undefined` (a charset busboy does not know) is refused. */
export function fieldDeviceId(value: string | undefined): string {
  if (value === undefined) {
    throw new SpoolError('invalid_device_id', 'device_id is in a charset the gateway cannot read; send it as plain ASCII (no charset, utf-8 or latin1)');
  }
  return value;
}

/** busboy's 'fieldsLimit' / 'partsLimit': it would skip the rest of the form (the image too), so refuse it instead. */
export function tooManyFields(what: 'plain fields' | 'parts', limit: number): SpoolError {
  return new SpoolError('too_many_fields', `the form has more than ${limit} ${what}; send device_id and the image, and few other fields`);
}
