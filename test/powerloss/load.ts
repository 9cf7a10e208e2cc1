import { fakeJpeg, sha256Hex } from '../helpers/images.js';
import type { Receipt } from './spool-check.js';

export interface LoadOptions {
  baseUrl: string;
  /** Requests in flight at once (each lane posts again as soon as its last answer came). */
  lanes: number;
  cycle: number;
  rng: () => number;
  /** Image sizes in bytes: most small, some up to `maxBytes`. */
  maxBytes: number;
  /** An upload link's URL for some of the posts, and the share of JSON bodies; 0 / null for multipart only. */
  linkUrl: string | null;
  jsonShare: number;
  /** Called with every 202 receipt the moment it is read. */
  onReceipt: (r: Receipt) => void;
}

export interface Load {
  /** Stop starting new requests (those in flight go on until answered or cut). */
  stop(): void;
  /** Settles when every lane has stopped and every request has an answer or an error. */
  done: Promise<void>;
  readonly posted: number;
  readonly failed: number;
  /** Answers other than 202, with the time they came: none is expected before a cut. */
  readonly refusals: Array<{ at: number; what: string }>;
}

type Via = Receipt['via'];

/** One device upload; resolves with the receipts of a 202 (a link may answer several), or throws. */
async function postOne(options: LoadOptions, via: Via, images: Buffer[], deviceId: string): Promise<{ status: number; receipts: Array<{ id: string; sha256: string; bytes: number }> }> {
  let res: Response;
  if (via === 'json') {
    res = await fetch(`${options.baseUrl}/image`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ device_id: deviceId, image: (images[0] as Buffer).toString('base64') }),
    });
  } else {
    const form = new FormData();
    if (via === 'multipart') form.append('device_id', deviceId);
    images.forEach((image, i) => form.append('image', new Blob([image]), `p${i}.jpg`));
    res = await fetch(via === 'link' ? (options.linkUrl as string) : `${options.baseUrl}/image`, { method: 'POST', body: form });
  }
  const body = (await res.json()) as unknown;
  const list = (Array.isArray(body) ? body : [body]) as Array<{ id: string; sha256: string; bytes: number }>;
  return { status: res.status, receipts: res.status === 202 ? list : [] };
}

/** 150 devices posting until stopped: multipart mostly, some JSON bodies and upload links (two images each). */
export function startLoad(options: LoadOptions): Load {
  let stopped = false;
  let posted = 0;
  let failed = 0;
  const refusals: Array<{ at: number; what: string }> = [];
  const size = (): number => (options.rng() < 0.8 ? 20_000 + Math.floor(options.rng() * 280_000) : 300_000 + Math.floor(options.rng() * (options.maxBytes - 300_000)));
  const lane = async (n: number): Promise<void> => {
    while (!stopped) {
      const pick = options.rng();
      const via: Via = options.linkUrl && pick < 0.1 ? 'link' : pick < 0.1 + options.jsonShare ? 'json' : 'multipart';
      const images = Array.from({ length: via === 'link' ? 2 : 1 }, () => fakeJpeg(size()));
      posted++;
      try {
        const res = await postOne(options, via, images, `cam-${options.cycle}-${n % 24}`);
        if (res.status !== 202) refusals.push({ at: Date.now(), what: `HTTP ${res.status} (${via})` });
        res.receipts.forEach((r, i) => {
          const sent = images[i] as Buffer;
          // A receipt must describe what was sent; one that does not is reported as corrupt by the checker.
          const sha256 = r.sha256 === sha256Hex(sent) && r.bytes === sent.length ? r.sha256 : `mismatch:${r.sha256}`;
          options.onReceipt({ id: r.id, sha256, bytes: r.bytes, cycle: options.cycle, via });
        });
      } catch {
        failed++; // cut by the power cut or the kill: never acknowledged, nothing owed
      }
    }
  };
  const done = Promise.all(Array.from({ length: options.lanes }, (_, n) => lane(n))).then(() => undefined);
  return {
    stop: () => { stopped = true; },
    done,
    get posted() { return posted; },
    get failed() { return failed; },
    refusals,
  };
}
