/**
 * The disk's own limit for the ingest bench: `files` files of `bytes` bytes written at once, each as the
 * issue defines it (write, fsync, rename, fsync the directory) but with no HTTP, no parsing, no hashing and no
 * ledger. Runs in a child process with the thread pool the service gets from deploy/image-spool.service,
 * so the bench's own event loop does not slow it.
 *
 * Where the files go decides the figure on this VM (docs/BENCHMARKS.md, "the page cache on this VM"): a
 * buffered write copies every byte into a page-cache page, and pages freed a moment ago are several times
 * cheaper than fresh ones. `keep` leaves the files in place, as a spool keeps its images (the bench removes
 * them at its end); otherwise they are deleted at once, and the next writer may reuse their pages. `direct`
 * writes with O_DIRECT from page-aligned memory, as the service does: what the disk itself takes.
 *
 * As a child: `node dist/bench/disk-baseline.js <dir> <files> <bytes> <buffered|direct>` prints `{"seconds": ...}`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fsyncPath } from '../src/spool/dir-sync.js';
import { DIRECT_ALIGN, WASM_PAGE_BYTES } from '../src/spool/staging.js';
import { unitSettings } from './harness.js';

const SELF = fileURLToPath(import.meta.url);
const O_DIRECT = (constants as { O_DIRECT?: number }).O_DIRECT ?? 0;

export interface DiskBaseline {
  filesPerSec: number;
  seconds: number;
}

export interface BaselineOptions {
  /** Leave the files (under `parent`, for the caller to remove); else delete them at once. */
  keep: boolean;
  mode: 'buffered' | 'direct';
}

/** Writes the files in a fresh directory under `parent` (the spool's filesystem). */
export async function measureDiskBaseline(parent: string, files: number, bytes: number, o: BaselineOptions): Promise<DiskBaseline> {
  const dir = await mkdtemp(path.join(parent, 'disk-baseline-'));
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [SELF, dir, String(files), String(bytes), o.mode], {
        env: { PATH: process.env['PATH'] ?? '', ...unitSettings().env }, stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (c: Buffer) => { text += c.toString(); });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`disk baseline exited with ${code}`))));
    });
    const { seconds } = JSON.parse(out) as { seconds: number };
    return { filesPerSec: files / seconds, seconds };
  } finally {
    if (!o.keep) await rm(dir, { recursive: true, force: true });
  }
}

async function writeDurably(dir: string, name: string, body: Buffer): Promise<void> {
  const tmp = path.join(dir, `${name}.part`);
  const file = await open(tmp, 'wx', 0o600);
  try {
    await file.write(body);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path.join(dir, `${name}.jpg`));
  await fsyncPath(dir); // one per file, as the issue defines the baseline (the service shares them: DirSync)
}

/** The bytes to write: for O_DIRECT, a page-aligned copy padded to the 4 KiB alignment, and the real length. */
interface Body {
  data: Buffer;
  length: number;
}

async function writeDirect(dir: string, name: string, body: Body): Promise<void> {
  const tmp = path.join(dir, `${name}.part`);
  const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_DIRECT, 0o600);
  try {
    await file.write(body.data, 0, body.data.length, 0);
    await file.truncate(body.length);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path.join(dir, `${name}.jpg`));
  await fsyncPath(dir);
}

/** Copies each body into its own page-aligned stretch of a WebAssembly memory (mmap'd, so page-aligned). */
function alignedBodies(bodies: Buffer[], bytes: number): Body[] {
  const padded = Math.ceil(bytes / DIRECT_ALIGN) * DIRECT_ALIGN;
  const stride = Math.ceil(padded / WASM_PAGE_BYTES) * WASM_PAGE_BYTES;
  const memory = new WebAssembly.Memory({ initial: (stride / WASM_PAGE_BYTES) * bodies.length });
  return bodies.map((body, i) => {
    const data = Buffer.from(memory.buffer, i * stride, padded);
    data.fill(body, 0, body.length);
    data.fill(0, body.length);
    return { data, length: body.length };
  });
}

async function child(dir: string, files: number, bytes: number, mode: string): Promise<void> {
  // Distinct bytes per file, as the ingest bench sends (one shared body, a distinct head).
  const shared = randomBytes(bytes);
  const bodies = Array.from({ length: files }, () => Buffer.concat([randomBytes(16), shared.subarray(16)]));
  // The aligned copies are made before the clock starts: the service copies into its blocks as bytes arrive.
  const aligned = mode === 'direct' ? alignedBodies(bodies, bytes) : null;
  const write = (i: number): Promise<void> => (aligned ? writeDirect(dir, `f${i}`, aligned[i] as Body) : writeDurably(dir, `f${i}`, bodies[i] as Buffer));
  const started = performance.now();
  await Promise.all(bodies.map((_, i) => write(i)));
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000 }));
}

if (process.argv[1] === SELF) {
  const [dir, files, bytes, mode] = process.argv.slice(2);
  child(dir as string, Number(files), Number(bytes), mode ?? 'buffered').catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
