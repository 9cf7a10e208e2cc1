/**
 * Large JSON uploads (issue 18, item 7): `loops` clients each post `{"device_id","image":"<base64>"}` of
 * ~`bodyBytes`, again and again, each loop from its own hostile address. A loop resends the same image, so
 * the service stores it once (later posts are resends, 200): the load is the body in memory, not the disk.
 */
import { fakeJpeg } from '../harness.js';
import { hostileAddress, post } from './http-post.js';
import { Tally, errorOutcome } from './tally.js';

export interface JsonOptions {
  url: string;
  loops: number;
  bodyBytes: number;
  /** A loop starts its next post no sooner than this after the last one started (no hot loop on fast refusals). */
  minGapMs: number;
  deadlineMs: number;
}

const KIND = 'JSON body';

export class JsonBodies {
  readonly tally = new Tally();
  readonly latencies: number[] = [];
  private stopped = false;
  private loops: Array<Promise<void>> = [];
  /** Built ahead (a 20 MB JSON.stringify takes a while): start() starts at once. */
  private readonly bodies: Buffer[];

  constructor(private readonly o: JsonOptions) {
    this.bodies = Array.from({ length: o.loops }, (_, i) => {
      const image = fakeJpeg(Math.floor((o.bodyBytes * 3) / 4));
      return Buffer.from(JSON.stringify({ device_id: `json-${i}`, image: image.toString('base64') }));
    });
  }

  start(): void {
    this.loops = this.bodies.map((body, i) => this.loop(i, body));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  private async loop(i: number, body: Buffer): Promise<void> {
    const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
    while (!this.stopped) {
      const started = performance.now();
      try {
        const answer = await post(this.o.url, { headers, body: [body], localAddress: hostileAddress(i + 3), deadlineMs: this.o.deadlineMs });
        this.tally.add(KIND, String(answer.status));
        this.latencies.push(answer.ms);
      } catch (err) {
        this.tally.add(KIND, errorOutcome(err));
      }
      const wait = this.o.minGapMs - (performance.now() - started);
      if (wait > 0 && !this.stopped) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
