/**
 * The malformed-input corpus of issue 18, one request every `gapMs` in rotation, each on its own connection
 * from a hostile address. Every kind is something a broken device, a curl script or an attacker sends.
 */
import { randomBytes } from 'node:crypto';
import { imageForm, requestHead, type Form } from './forms.js';
import { hostileAddress } from './http-post.js';
import { Paced } from './paced.js';
import { rawExchange } from './raw-exchange.js';
import { Tally } from './tally.js';

/** Item 1: busboy hands `undefined` for a field in a charset it does not know. 182 bytes, as in the issue. */
const UTF16_BODY = Buffer.from(
  '--XyZ\r\nContent-Disposition: form-data; name="device_id"\r\n\r\ndevice_1\r\n--XyZ\r\nContent-Disposition: form-data; ' +
  'name="image"\r\nContent-Type: text/plain; charset=utf-16\r\n\r\nhello\r\n--XyZ--\r\n', 'latin1');

const multipart = (form: Form, contentType = `multipart/form-data; boundary=${form.boundary}`): Buffer =>
  Buffer.concat([requestHead([['Content-Type', contentType], ['Content-Length', String(form.length)], ['Connection', 'close']]), ...form.parts]);

/** A small JPEG whose bytes differ per call (a COM segment with `n`), so a 202 is a new image, not a resend. */
export function distinctSmallJpeg(jpeg: Buffer, n: number): Buffer {
  const tag = Buffer.from(`hostile-${n}`, 'latin1');
  const com = Buffer.from([0xff, 0xd8, 0xff, 0xfe, 0, 0]);
  com.writeUInt16BE(tag.length + 2, 4);
  return Buffer.concat([com, tag, jpeg.subarray(2)]);
}

/** Each kind builds its n-th request. */
export function corpusKinds(smallJpeg: Buffer): Array<{ kind: string; request: (n: number) => Buffer }> {
  return [
    {
      kind: 'utf-16 charset field (182 B)',
      request: () => Buffer.concat([requestHead([['Content-Type', 'multipart/form-data; boundary=XyZ'], ['Content-Length', String(UTF16_BODY.length)], ['Connection', 'close']]), UTF16_BODY]),
    },
    {
      kind: 'truncated multipart',
      request: (n) => multipart(imageForm(`corpus-${n % 10}`, [distinctSmallJpeg(smallJpeg, n).subarray(0, 1000)], { truncated: true })),
    },
    {
      kind: 'multipart/form-data;; boundary= (curl)',
      request: (n) => {
        const form = imageForm('corpus-curl', [distinctSmallJpeg(smallJpeg, n)]);
        return multipart(form, `multipart/form-data;; boundary=${form.boundary}`);
      },
    },
    {
      kind: '10,000 fields before the image',
      request: (n) => multipart(imageForm('corpus-fields', [distinctSmallJpeg(smallJpeg, n)], { fields: Array.from({ length: 10_000 }, (_, i) => [`f${i}`, 'x'] as const) })),
    },
    {
      kind: 'Content-Length 10 GB with Expect: 100-continue',
      request: (n) => requestHead([['Content-Type', `multipart/form-data; boundary=huge${n}`], ['Content-Length', '10000000000'], ['Expect', '100-continue'], ['Connection', 'close']]),
    },
    { kind: 'garbage bytes (4 KiB)', request: () => randomBytes(4096) },
    {
      kind: 'non-image payload (text)',
      request: (n) => multipart(imageForm('corpus-text', [Buffer.from(`adsfkjasdfaskjfsadjf${n}`)], { imageType: 'text/plain', filename: 'image.txt' })),
    },
  ];
}

export interface CorpusOptions {
  port: number;
  gapMs: number;
  deadlineMs: number;
  /** Requests left unanswered at once before the next ones are skipped (counted): a hung service must not pile up sockets. */
  maxInFlight: number;
}

export class Corpus {
  readonly tally = new Tally();
  private readonly paced: Paced;

  constructor(private readonly o: CorpusOptions, private readonly kinds: ReturnType<typeof corpusKinds>) {
    this.paced = new Paced(o.gapMs, (n) => this.send(n));
  }

  start(): void {
    this.paced.start();
  }

  /** Stops sending and waits for the answers still due (each has its deadline). */
  stop(): Promise<void> {
    return this.paced.stop();
  }

  private async send(n: number): Promise<void> {
    const { kind, request } = this.kinds[n % this.kinds.length] as (typeof this.kinds)[number];
    // Counted before this request joins them: a hung service must not pile up sockets.
    if (this.paced.inFlight >= this.o.maxInFlight) {
      this.tally.add(kind, 'skipped: too many unanswered');
      return;
    }
    this.tally.add(kind, await rawExchange({ port: this.o.port, localAddress: hostileAddress(n), deadlineMs: this.o.deadlineMs }, request(n)));
  }
}
