import { SpoolError } from '../errors.js';

/**
 * Decodes standard base64 (A-Z a-z 0-9 + /, "=" padding only at the very end, a length that is a multiple of
 * 4) as it arrives in runs of any length: whole quartets are decoded at once, the 0-3 characters left over
 * wait for the next run. So a 65 MB image costs one run's worth of memory, not the whole string.
 */
export class Base64Stream {
  /** Characters not decoded yet: under 4, or, once padding has begun, everything since it began. */
  private carry = '';
  private chars = 0;
  private padding = 0;

  /** Characters taken so far. */
  get length(): number {
    return this.chars;
  }

  /** Takes the next run of characters; returns the bytes it completes (null when none). */
  feed(run: string): Buffer | null {
    if (run.length === 0) return null;
    this.check(run);
    this.chars += run.length;
    const text = this.carry + run;
    if (this.padding > 0) {
      this.carry = text; // only "=" may follow: decoded at the end
      return null;
    }
    const whole = text.length - (text.length % 4);
    this.carry = text.slice(whole);
    return whole > 0 ? Buffer.from(whole === text.length ? text : text.slice(0, whole), 'base64') : null;
  }

  /** The string is complete: returns its last bytes, or throws when it was not whole quartets. */
  end(): Buffer | null {
    if (this.chars % 4 !== 0) throw notBase64(`its length (${this.chars}) is not a multiple of 4`);
    const rest = this.carry;
    this.carry = '';
    return rest.length > 0 ? Buffer.from(rest, 'base64') : null;
  }

  private check(run: string): void {
    if (this.padding > 0) {
      if (!/^=+$/.test(run)) throw notBase64('"=" padding may only end it');
      this.padding += run.length;
    } else {
      const bad = run.search(/[^A-Za-z0-9+/]/);
      if (bad >= 0) {
        if (!/^=+$/.test(run.slice(bad))) throw notBase64(`it holds ${describe(run.charCodeAt(bad))}`);
        this.padding = run.length - bad;
      }
    }
    if (this.padding > 2) throw notBase64('it ends in more than two "="');
  }
}

export function notBase64(why: string): SpoolError {
  return new SpoolError('invalid_request', `"image" must be standard base64 (A-Z, a-z, 0-9, +, /, = padding): ${why}`);
}

function describe(code: number): string {
  return code >= 0x21 && code <= 0x7e ? `"${String.fromCharCode(code)}"` : `the byte 0x${code.toString(16).padStart(2, '0')}`;
}
