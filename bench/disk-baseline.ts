/**
 * The disk's own limit for the ingest bench: `files` files of `bytes` bytes written at once, each as the
 * spool does it (write, fsync, rename, fsync the directory) but with no HTTP, no parsing, no hashing and no
 * ledger. Runs in a child process with the thread pool the service gets from deploy/image-spool.service,
 * so the bench's own event loop does not slow it.
 *
 * As a child: `node dist/bench/disk-baseline.js <dir> <files> <bytes>` prints `{"seconds": ...}`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fsyncPath } from '../src/spool/dir-sync.js';
import { unitSettings } from './harness.js';

const SELF = fileURLToPath(import.meta.url);

export interface DiskBaseline {
  filesPerSec: number;
  seconds: number;
}

/** Writes the files in a fresh directory under `parent` (the spool's filesystem) and removes them after. */
export async function measureDiskBaseline(parent: string, files: number, bytes: number): Promise<DiskBaseline> {
  const dir = await mkdtemp(path.join(parent, 'disk-baseline-'));
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [SELF, dir, String(files), String(bytes)], {
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
    await rm(dir, { recursive: true, force: true });
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

async function child(dir: string, files: number, bytes: number): Promise<void> {
  // Distinct bytes per file, as the ingest bench sends (one shared body, a distinct head).
  const shared = randomBytes(bytes);
  const bodies = Array.from({ length: files }, () => Buffer.concat([randomBytes(16), shared.subarray(16)]));
  const started = performance.now();
  await Promise.all(bodies.map((body, i) => writeDurably(dir, `f${i}`, body)));
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000 }));
}

if (process.argv[1] === SELF) {
  const [dir, files, bytes] = process.argv.slice(2);
  child(dir as string, Number(files), Number(bytes)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
