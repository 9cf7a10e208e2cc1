/**
 * Ack means durable, seen from the kernel: the compiled service runs under strace, 20 images are posted
 * (4 one by one, then 16 at once), and for every 202 the trace must show, in the order the tracer saw
 * them across all threads:
 *   fsync(<id>.part) -> rename(<id>.part, <id>.<ext>) -> fsync(images/) -> WAL write holding the row
 *     -> fsync/fdatasync(ledger.db-wal) -> the socket write carrying "HTTP/1.1 202 ... <id>".
 * The checker is in test/helpers/syscall-order.ts; docs/RELIABILITY.md has what it found.
 *
 * The same checker must fail on deliberately broken copies of dist/ (patched JS in a temp dir; src/ is
 * not touched): no file fsync, ack before the ledger commit, and a WAL sync (src/ledger/wal-sync.ts) that
 * does not sync.
 * Skipped, with the reason printed, when strace is missing or ptrace is not permitted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onlyChildOf } from '../../bench/harness.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';
import { straceUnavailable } from '../helpers/strace.js';
import { checkSyscallOrder, timeOrderBreak, type CheckResult, type Rule } from '../helpers/syscall-order.js';
import { patchedBuild, type Patch } from '../helpers/patched-build.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'bin/image-spool.cjs');
const SEQUENTIAL = 4;
const CONCURRENT = 16;

const unavailable = straceUnavailable();
if (unavailable) console.warn(`SKIPPED syscall-order: ${unavailable}`);

interface RunResult {
  ids: string[];
  check: CheckResult;
  ms: number;
  traceBytes: number;
}

const cleanups: (() => Promise<void>)[] = [];

async function buildVariant(name: string, patches: readonly Patch[]): Promise<string> {
  const build = await patchedBuild(`variant-${name}`, patches);
  cleanups.push(build.remove);
  return build.cli;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Runs `cli serve` under strace, posts the images, stops it and checks the trace. */
async function runTraced(cli: string, s3: TestS3): Promise<RunResult> {
  const started = Date.now();
  const work = await mkdtemp(path.join(os.tmpdir(), 'spool-strace-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const spoolDir = path.join(work, 'spool');
  const traceFile = path.join(work, 'trace.txt');
  const strace = spawn('strace', [
    '-f', '-ttt', '-T', '-yy', '-s', '4096', '-o', traceFile,
    '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2,write,writev,pwrite64,pwritev,pwritev2,sendto,sendmsg,openat',
    process.execPath, cli, 'serve',
  ], {
    env: {
      PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', SPOOL_DIR: spoolDir,
      // Uploads trickle (8 KB/s, one at a time) so they add little to the trace; they still run.
      UPLOAD_BWLIMIT: '64kbit', UPLOAD_CONCURRENCY: '1', ADMIN_TOKEN: 'syscall-order-test',
      ...s3Env(s3),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let nodePid: number | null = null;
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`service did not start under strace in 20 s:\n${logs.join('')}`)), 20_000);
      let buffered = '';
      strace.stdout?.on('data', (chunk: Buffer) => {
        logs.push(chunk.toString());
        buffered += chunk.toString();
        const m = /"port":(\d+)[^\n]*image-spool listening/.exec(buffered);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      strace.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
      strace.once('exit', (code) => { clearTimeout(timer); reject(new Error(`strace exited (${code}) before the service listened:\n${logs.join('')}`)); });
    });
    nodePid = onlyChildOf(strace.pid as number);
    const baseUrl = `http://127.0.0.1:${port}`;
    const ids: string[] = [];
    const post = async (i: number) => {
      const r = await postImage(baseUrl, `cam-${i % 3}`, fakeJpeg(4_000 + i * 3_000));
      if (r.status !== 202) throw new Error(`POST ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      ids.push(String(r.body['id']));
    };
    for (let i = 0; i < SEQUENTIAL; i++) await post(i);
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => post(SEQUENTIAL + i)));
    // Every 202 has been read by the client, so its write is in the trace. SIGKILL the service (strace's
    // child, by pid); strace then flushes the trace and exits.
    process.kill(nodePid, 'SIGKILL');
    await waitForExit(strace);
    nodePid = null;
    const trace = await readFile(traceFile, 'utf8');
    const real = realpathSync(spoolDir);
    const check = checkSyscallOrder(trace, ids, { imagesDir: path.join(real, 'images'), walPath: path.join(real, 'ledger.db-wal') });
    return { ids, check, ms: Date.now() - started, traceBytes: Buffer.byteLength(trace) };
  } finally {
    if (nodePid !== null) { try { process.kill(nodePid, 'SIGKILL'); } catch { /* already gone */ } }
    if (strace.exitCode === null && strace.signalCode === null) {
      strace.kill('SIGKILL');
      await waitForExit(strace);
    }
  }
}

function countByRule(r: RunResult): Partial<Record<Rule, number>> {
  const out: Partial<Record<Rule, number>> = {};
  for (const v of r.check.violations) out[v.rule] = (out[v.rule] ?? 0) + 1;
  return out;
}

function summary(name: string, r: RunResult): string {
  const shared = (pick: (c: CheckResult['chains'][number]) => { startSeq: number }) => new Set(r.check.chains.map((c) => pick(c).startSeq)).size;
  const sharing = r.check.chains.length ? ` (covered by ${shared((c) => c.dirFsync)} dir fsyncs, ${shared((c) => c.walFsync)} WAL fsyncs)` : '';
  return `syscall-order ${name}: ${r.ids.length} acks, ${r.check.chains.length} proven${sharing}, violations by rule ${JSON.stringify(countByRule(r))}, ` +
    `${r.check.calls} calls traced (${(r.traceBytes / 1e6).toFixed(1)} MB), clock anomalies ${r.check.clockAnomalies}, ${r.ms} ms` +
    (r.check.violations[0] ? `\n  first violation: [${r.check.violations[0].rule}] ${r.check.violations[0].id}: ${r.check.violations[0].message}` : '');
}

describe.skipIf(unavailable !== null)('syscall order of an ack (strace)', () => {
  let s3: TestS3;

  beforeAll(async () => {
    s3 = await startTestS3();
  });

  afterAll(async () => {
    await s3?.close();
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('every 202 follows fsync(part), rename, fsync(dir), the row in the WAL and fsync(WAL)', async () => {
    const r = await runTraced(CLI, s3);
    console.log(summary('build', r));
    const example = r.check.chains[r.check.chains.length - 1];
    if (example) {
      const t = (c: { tStart: number; tEnd: number }) => `${c.tStart.toFixed(6)}-${c.tEnd.toFixed(6)}`;
      console.log(`syscall-order example ${example.id}: fsync(part) ${t(example.fileFsync)}, rename ${t(example.rename)}, fsync(dir) ${t(example.dirFsync)}, ` +
        `row in WAL ${t(example.rowWrite)}, fsync(WAL) ${t(example.walFsync)}, 202 ${t(example.ack)}`);
    }
    expect(r.check.violations).toEqual([]);
    expect(r.check.chains.map((c) => c.id).sort()).toEqual([...r.ids].sort());
    expect(r.ids.length).toBe(SEQUENTIAL + CONCURRENT);
    // Time order = the tracer's event order: its timestamps never go backwards, and each chain's
    // timestamps increase step by step.
    expect(r.check.clockAnomalies).toBe(0);
    expect(r.check.chains.map(timeOrderBreak).filter((b) => b !== null)).toEqual([]);
  });

  it('catches a build that skips the file fsync (ack before the image is durable)', async () => {
    const cli = await buildVariant('no-file-fsync', [
      { file: 'dist/src/spool/store.js', from: 'this.syncFile(handle)]', to: '/* variant: no file fsync */ undefined]' },
    ]);
    const r = await runTraced(cli, s3);
    console.log(summary('variant no-file-fsync', r));
    expect(r.check.violations.length).toBeGreaterThan(0);
    // Every ack is caught, by the file-fsync rule.
    expect(r.check.violations.filter((v) => v.rule === 'file-fsync').map((v) => v.id).sort()).toEqual([...r.ids].sort());
  });

  it('catches a build that answers before the ledger commit', async () => {
    const cli = await buildVariant('ack-before-commit', [
      // The group committer answers its callers at once and commits the batch 50 ms later.
      { file: 'dist/src/ledger/group-commit.js', from: 'this.insertMany = insertMany;',
        to: "this.insertMany = (rows) => { setTimeout(() => insertMany(rows), 50); return rows.map(() => ({ kind: 'inserted' })); };" },
    ]);
    const r = await runTraced(cli, s3);
    console.log(summary('variant ack-before-commit', r));
    expect(r.check.violations.length).toBeGreaterThan(0);
    expect(r.check.violations.every((v) => v.rule === 'row-write' || v.rule === 'wal-fsync')).toBe(true);
  });

  it('catches a WAL sync that does not sync (ingest commits skip SQLite\'s own fsync and rely on it)', async () => {
    const cli = await buildVariant('no-wal-sync', [
      { file: 'dist/src/ledger/wal-sync.js', from: 'datasync = (file) => file.datasync()', to: 'datasync = async () => undefined' },
    ]);
    const r = await runTraced(cli, s3);
    console.log(summary('variant no-wal-sync', r));
    // SQLite's own FULL commits (a claim's neighbours, the health probe) may fsync the WAL by chance before
    // an ack; most acks have no WAL fsync at all.
    expect(r.check.violations.length).toBeGreaterThan(0);
    expect(r.check.violations.every((v) => v.rule === 'wal-fsync')).toBe(true);
  });
});
