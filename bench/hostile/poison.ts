/**
 * Poison images (issue 18, items 2 and 3), one every `gapMs` in rotation: the 96-byte HEIC with a zero-length
 * box, the TIFF tag bomb and the JPEG tag bomb, each with a salt so every post is a new image.
 */
import { heicZeroLengthBox, jpegTagBomb, tiffTagBomb } from '../fixtures/poison-images.js';
import { imageForm } from './forms.js';
import { hostileAddress, post } from './http-post.js';
import { Paced } from './paced.js';
import { Tally, errorOutcome } from './tally.js';

const KINDS = [
  { kind: '96-byte HEIC, zero-length box', type: 'image/heic', filename: 'poison.heic', bytes: heicZeroLengthBox },
  { kind: 'TIFF tag bomb (128 KiB)', type: 'image/tiff', filename: 'poison.tif', bytes: tiffTagBomb },
  { kind: 'JPEG tag bomb (65 KB)', type: 'image/jpeg', filename: 'poison.jpg', bytes: jpegTagBomb },
];

export interface PoisonOptions {
  url: string;
  gapMs: number;
  deadlineMs: number;
}

export class Poison {
  readonly tally = new Tally();
  private readonly paced: Paced;

  constructor(private readonly o: PoisonOptions) {
    this.paced = new Paced(o.gapMs, (n) => this.send(n));
  }

  start(): void {
    this.paced.start();
  }

  stop(): Promise<void> {
    return this.paced.stop();
  }

  private send(n: number): Promise<void> {
    const k = KINDS[n % KINDS.length] as (typeof KINDS)[number];
    const form = imageForm(`poison-${n % KINDS.length}`, [k.bytes(n)], { imageType: k.type, filename: k.filename });
    return post(this.o.url, {
      headers: { 'content-type': `multipart/form-data; boundary=${form.boundary}`, 'content-length': String(form.length) },
      body: form.parts, localAddress: hostileAddress(n), deadlineMs: this.o.deadlineMs,
    }).then((a) => this.tally.add(k.kind, String(a.status)), (err: unknown) => this.tally.add(k.kind, errorOutcome(err)));
  }
}
