import { SpoolError } from '../errors.js';
import { Base64Stream, notBase64 } from './base64-stream.js';

/**
 * JSON bytes held at once besides the image: keys, `device_id` and any other member's value. Everything
 * else in the body is the image's base64, which is decoded as it streams; so a body costs memory in
 * proportion to this and to a chunk, never to its length.
 */
export const JSON_OTHER_BYTES_LIMIT = 64 * 1024;

const EXPECTED = 'expected {"device_id": "...", "image": "<base64>"}';

export interface JsonImageOutput {
  /** The next decoded bytes of the image, in order. */
  image(bytes: Buffer): void;
  /** A member other than "image", once its value is complete (parsed with JSON.parse). */
  member(name: string, value: unknown): void;
}

type State =
  | 'start' | 'first-key' | 'key' | 'in-key' | 'colon' | 'value'
  | 'in-string' | 'in-other' | 'in-image' | 'after-value' | 'done';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * A streaming tokenizer for one JSON object, `{"device_id": "...", "image": "<base64>", ...}`, fed chunk by
 * chunk. The "image" string is never held: each run of it between chunk ends and escapes goes straight to
 * a base64 decoder (0-3 characters carried over). Other members are collected, bounded by
 * JSON_OTHER_BYTES_LIMIT, and checked with JSON.parse, so what is accepted is what JSON.parse accepts.
 * Throws a SpoolError (400) on the first byte that cannot belong to such an object.
 */
export class JsonImageDecoder {
  private state: State = 'start';
  private key = '';
  private imageSeen = false;
  private readonly base64 = new Base64Stream();
  /** Inside the image string: the escape begun so far ("" after a backslash, then "u", "u0", ...), or null. */
  private imageEscape: string | null = null;
  /** The key or value being collected, as raw JSON bytes. */
  private token: Buffer[] = [];
  private otherBytes = 0;
  /** In a collected string: the previous byte was a backslash. */
  private escaped = false;
  /** In a collected non-string value: nesting depth, and whether inside one of its strings. */
  private depth = 0;
  private inNestedString = false;

  constructor(private readonly out: JsonImageOutput) {}

  /** Whether the object had an "image" member (a string), and how many base64 characters it held. */
  get image(): { seen: boolean; chars: number } {
    return { seen: this.imageSeen, chars: this.base64.length };
  }

  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) i = this.step(chunk, i);
  }

  /** The body has ended: throws unless it was exactly one complete object. */
  end(): void {
    if (this.state !== 'done') throw invalidJson('the body ends before the JSON object does');
  }

  /** Consumes at least one byte from `i` (or reaches the chunk's end); returns where to go on. */
  private step(chunk: Buffer, i: number): number {
    switch (this.state) {
      case 'in-image': return this.readImage(chunk, i);
      case 'in-key':
      case 'in-string': return this.readString(chunk, i);
      case 'in-other': return this.readOther(chunk, i);
      default: break;
    }
    const at = skipWhitespace(chunk, i);
    if (at === chunk.length) return at;
    return this.structural(chunk[at] as number) ? at + 1 : at;
  }

  /**
   * One byte outside any string or value: the object's punctuation, or the start of a value. Returns false
   * when the byte is not consumed (the first byte of a number, literal, array or object is the value's own).
   */
  private structural(byte: number): boolean {
    const state = this.state;
    if (state === 'start') {
      if (byte !== 0x7b) throw new SpoolError('invalid_request', `the body is not a JSON object; ${EXPECTED}`);
      this.state = 'first-key';
    } else if ((state === 'first-key' || state === 'key') && byte === QUOTE) {
      this.begin('in-key', byte);
    } else if ((state === 'first-key' || state === 'after-value') && byte === 0x7d) {
      this.state = 'done';
    } else if (state === 'colon' && byte === 0x3a) {
      this.state = 'value';
    } else if (state === 'after-value' && byte === 0x2c) {
      this.state = 'key';
    } else if (state === 'value') {
      return this.startValue(byte);
    } else {
      throw invalidJson(state === 'done' ? 'there is more after the JSON object' : `unexpected ${describeByte(byte)}`);
    }
    return true;
  }

  private startValue(byte: number): boolean {
    if (this.key !== 'image') {
      this.begin(byte === QUOTE ? 'in-string' : 'in-other', byte === QUOTE ? byte : null);
      return byte === QUOTE;
    }
    if (this.imageSeen) throw new SpoolError('invalid_request', 'the JSON body has "image" twice; send one image per request');
    if (byte !== QUOTE) throw new SpoolError('missing_image', '"image" must be a string (the image in base64)');
    this.imageSeen = true;
    this.state = 'in-image';
    return true;
  }

  private begin(state: 'in-key' | 'in-string' | 'in-other', first: number | null): void {
    this.state = state;
    this.token = [];
    this.escaped = false;
    this.depth = 0;
    this.inNestedString = false;
    if (first !== null) this.collect(Buffer.from([first]));
  }

  private collect(bytes: Buffer): void {
    this.otherBytes += bytes.length;
    if (this.otherBytes > JSON_OTHER_BYTES_LIMIT) {
      throw new SpoolError('invalid_request', `the JSON body holds more than ${JSON_OTHER_BYTES_LIMIT} bytes besides "image"; ${EXPECTED}`);
    }
    this.token.push(Buffer.from(bytes)); // a copy: the chunk it came from is not kept alive
  }

  /** A key or a string value, up to and including its closing quote. */
  private readString(chunk: Buffer, from: number): number {
    let i = from;
    for (; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (this.escaped) this.escaped = false;
      else if (byte === BACKSLASH) this.escaped = true;
      else if (byte === QUOTE) {
        this.collect(chunk.subarray(from, i + 1));
        this.finishToken();
        return i + 1;
      }
    }
    this.collect(chunk.subarray(from, i));
    return i;
  }

  /** A number, literal, array or object: ends before the comma, brace or space that follows it at depth 0. */
  private readOther(chunk: Buffer, from: number): number {
    let i = from;
    for (; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (this.inNestedString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.inNestedString = false;
        continue;
      }
      if (byte === QUOTE) this.inNestedString = true;
      else if (byte === 0x7b || byte === 0x5b) this.depth++;
      else if (byte === 0x7d || byte === 0x5d) {
        if (this.depth === 0) break; // the enclosing object's end
        if (--this.depth === 0) {
          i++;
          break;
        }
      } else if (this.depth === 0 && (byte === 0x2c || isWhitespace(byte))) break;
    }
    this.collect(chunk.subarray(from, i));
    if (i < chunk.length) this.finishToken();
    return i;
  }

  private finishToken(): void {
    const text = Buffer.concat(this.token).toString('utf8');
    this.token = [];
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw invalidJson(`${JSON.stringify(text.slice(0, 40))} is not a JSON ${this.state === 'in-key' ? 'key' : 'value'}`);
    }
    if (this.state === 'in-key') {
      this.key = value as string;
      this.state = 'colon';
    } else {
      this.out.member(this.key, value);
      this.state = 'after-value';
    }
  }

  /** The image string: runs between escapes go to the decoder; the closing quote ends it. */
  private readImage(chunk: Buffer, from: number): number {
    let i = from;
    // Searched once per chunk and again only when passed: many escapes must not make a chunk quadratic.
    let quote = -2;
    let backslash = -2;
    while (i < chunk.length) {
      if (this.imageEscape !== null) {
        this.readEscape(chunk[i] as number);
        i++;
        continue;
      }
      if (quote !== -1 && quote < i) quote = chunk.indexOf(QUOTE, i);
      if (backslash !== -1 && backslash < i) backslash = chunk.indexOf(BACKSLASH, i);
      const stop = Math.min(quote === -1 ? chunk.length : quote, backslash === -1 ? chunk.length : backslash);
      if (stop > i) this.emit(this.base64.feed(chunk.toString('latin1', i, stop)));
      if (stop === chunk.length) return stop;
      if (stop === quote) {
        this.emit(this.base64.end());
        this.state = 'after-value';
        return stop + 1;
      }
      this.imageEscape = '';
      i = stop + 1;
    }
    return i;
  }

  /** JSON allows `\/` and `\uXXXX` for base64 characters; any other escape cannot be base64. */
  private readEscape(byte: number): void {
    const escape = `${this.imageEscape ?? ''}${String.fromCharCode(byte)}`;
    if (escape === '/') {
      this.imageEscape = null;
      this.emit(this.base64.feed('/'));
    } else if (/^u[0-9A-Fa-f]{0,4}$/.test(escape)) {
      this.imageEscape = escape;
      if (escape.length < 5) return;
      this.imageEscape = null;
      const char = String.fromCharCode(parseInt(escape.slice(1), 16));
      if (!/^[A-Za-z0-9+/=]$/.test(char)) throw notBase64(`it holds the escape \\${escape}`);
      this.emit(this.base64.feed(char));
    } else {
      throw notBase64(`it holds the escape \\${escape}`);
    }
  }

  private emit(bytes: Buffer | null): void {
    if (bytes !== null && bytes.length > 0) this.out.image(bytes);
  }
}

function invalidJson(why: string): SpoolError {
  return new SpoolError('invalid_request', `the body is not valid JSON (${why}); ${EXPECTED}`);
}

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

function skipWhitespace(chunk: Buffer, from: number): number {
  let i = from;
  while (i < chunk.length && isWhitespace(chunk[i] as number)) i++;
  return i;
}

function describeByte(byte: number): string {
  return byte >= 0x21 && byte <= 0x7e ? `"${String.fromCharCode(byte)}"` : `byte 0x${byte.toString(16).padStart(2, '0')}`;
}
