/**
 * Honest cameras: each posts a distinct JPEG-looking image every `periodMs` from 127.0.0.1 (a camera whose
 * post took longer sends its next photo at once). A 503 with Retry-After, or a connection error, is retried
 * as a camera would, and counted. Every receipt (202, or 200 for a resend whose first answer was lost) is
 * kept with the SHA-256 of the bytes sent, for the check in S3.
 */
import { createHash, type Hash } from 'node:crypto';
import { fakeJpeg } from '../harness.js';
import { imageForm } from './forms.js';
import { post, type Answer } from './http-post.js';
import { Tally, errorOutcome } from './tally.js';

export interface CameraOptions {
  url: string;
  cameras: number;
  periodMs: number;
  /** Image sizes run from minBytes (camera 0) to maxBytes (the last camera). */
  minBytes: number;
  maxBytes: number;
  attemptDeadlineMs: number;
  maxAttempts: number;
  /** Retry-After is obeyed up to this many seconds. */
  maxRetryAfterS: number;
  /** After stop(), a photo still being delivered is retried only this long (a hung service must not hold the bench). */
  retryGraceMs: number;
}

export interface HonestReceipt {
  id: string;
  deviceId: string;
  /** Of the bytes the camera sent. */
  sha256: string;
  /** What the receipt says. */
  receiptSha256: string;
  bytes: number;
}

interface Camera {
  deviceId: string;
  body: Buffer;
  /** SHA-256 state after `body`: each photo adds only its own 16-byte tail. */
  bodyHash: Hash;
}

export class HonestCameras {
  /** Each attempt's answer ("202", "503", "ECONNRESET"). */
  readonly attempts = new Tally();
  /** Why an attempt was retried. */
  readonly retries = new Tally();
  /** First attempt's start to the receipt, retries included, per delivered photo. */
  readonly deliveryMs: number[] = [];
  readonly attemptMs: number[] = [];
  readonly receipts = new Map<string, HonestReceipt>();
  /** Photos that got no receipt, by the last attempt's outcome. */
  readonly undelivered = new Tally();
  photos = 0;
  private stopped = false;
  private stoppedAt = Infinity;
  private loops: Array<Promise<void>> = [];
  private readonly cameras: Camera[];

  constructor(private readonly o: CameraOptions) {
    this.cameras = Array.from({ length: o.cameras }, (_, i) => this.camera(i));
  }

  start(): void {
    this.loops = this.cameras.map((camera, i) => this.loop(camera, i));
  }

  /** No new photos; waits for the photos being delivered (their retries included). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stoppedAt = performance.now();
    await Promise.all(this.loops);
  }

  private camera(i: number): Camera {
    const span = this.o.cameras > 1 ? (this.o.maxBytes - this.o.minBytes) / (this.o.cameras - 1) : 0;
    const body = fakeJpeg(Math.round(this.o.minBytes + i * span));
    return { deviceId: `honest-${String(i).padStart(2, '0')}`, body, bodyHash: createHash('sha256').update(body) };
  }

  private async loop(camera: Camera, i: number): Promise<void> {
    // Cameras are spread over the period, as real ones are not synchronised.
    const start = performance.now() + (i * this.o.periodMs) / this.o.cameras;
    for (let n = 0; ; n++) {
      const wait = start + n * this.o.periodMs - performance.now();
      if (wait > 0) await sleepUnless(wait, () => this.stopped);
      if (this.stopped) return;
      await this.deliver(camera, n);
    }
  }

  private async deliver(camera: Camera, n: number): Promise<void> {
    this.photos++;
    const tail = Buffer.alloc(16);
    tail.write(`${camera.deviceId}:${n}`.slice(0, 16), 'latin1');
    const sha256 = camera.bodyHash.copy().update(tail).digest('hex');
    const started = performance.now();
    let last = '';
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      const form = imageForm(camera.deviceId, [camera.body, tail]);
      let answer: Answer | null = null;
      try {
        answer = await post(this.o.url, {
          headers: { 'content-type': `multipart/form-data; boundary=${form.boundary}`, 'content-length': String(form.length) },
          body: form.parts, deadlineMs: this.o.attemptDeadlineMs,
        });
        last = String(answer.status);
        this.attemptMs.push(answer.ms);
      } catch (err) {
        last = errorOutcome(err);
      }
      this.attempts.add('honest', last);
      if (answer && (answer.status === 202 || answer.status === 200)) {
        if (this.keep(answer, camera, sha256)) {
          this.deliveryMs.push(performance.now() - started);
          return;
        }
        last = `${answer.status} without a receipt id`;
        break;
      }
      const retryAfterS = answer ? retryAfter(answer) : 1;
      if (retryAfterS === null || attempt === this.o.maxAttempts || performance.now() - this.stoppedAt > this.o.retryGraceMs) break;
      this.retries.add('honest', answer ? `${answer.status} Retry-After ${retryAfterS}` : last);
      await sleepUnless(Math.min(retryAfterS, this.o.maxRetryAfterS) * 1000, () => false);
    }
    this.undelivered.add('honest', last);
  }

  /** False when the answer holds no receipt (not JSON, or no id). */
  private keep(answer: Answer, camera: Camera, sha256: string): boolean {
    let receipt: { id?: unknown; sha256?: unknown };
    try {
      receipt = JSON.parse(answer.body.toString('utf8')) as { id?: unknown; sha256?: unknown };
    } catch {
      return false;
    }
    if (typeof receipt.id !== 'string') return false;
    this.receipts.set(receipt.id, { id: receipt.id, deviceId: camera.deviceId, sha256, receiptSha256: String(receipt.sha256), bytes: camera.body.length + 16 });
    return true;
  }
}

/** Seconds a 503 with Retry-After asks to wait; null for any other answer (not retried). */
function retryAfter(answer: Answer): number | null {
  const header = answer.headers['retry-after'];
  if (answer.status !== 503 || header === undefined) return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : 1;
}

function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const deadline = performance.now() + ms;
    const tick = (): void => {
      const left = deadline - performance.now();
      if (left <= 0 || stop()) resolve();
      else setTimeout(tick, Math.min(left, 200));
    };
    tick();
  });
}
