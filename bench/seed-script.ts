/**
 * The seed's own load script (issue 7): `seq 1 N | xargs -P 150 curl --form device_id=device_1 --form
 * image=@small.jpg ...` with a real small JPEG, against the service as shipped. Every answer must be 202 (a
 * new image) or 200 (the same device resending the same bytes: answered with its first receipt).
 *
 * One change from the seed's line: `xargs -n1 ... curl ... URL` appends each number to curl's arguments,
 * where curl takes it as a second URL (host "1", "2", ...) and reports 000 for it. The number goes in the
 * query string instead (`-I{}`, which also runs one curl per line), where the service ignores it.
 *
 * Two runs: identical bytes (every request after the first is a resend: it is received, hashed and answered
 * from the ledger, and its file discarded) and distinct bytes (each request a different file, so each one is
 * stored: rename, fsyncs, a new row).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Cleanup, infoRow, startS3, startService, targetRow, type Row } from './harness.js';
import { SMALL_JPEG } from './wrk.js';

export interface SeedScriptOptions {
  identical: number;
  distinct: number;
  parallel: number;
}

export async function runSeedScript(o: SeedScriptOptions, cleanup: Cleanup): Promise<Row[]> {
  const bench = 'seed';
  const curl = spawnSync('curl', ['--version'], { encoding: 'utf8' });
  if (curl.error) return [infoRow(bench, 'seed script bench SKIPPED', 'curl not found')];
  const s3 = await startS3(cleanup);
  const service = await startService(cleanup, { S3_BUCKET: s3.bucket, S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, UPLOAD_BWLIMIT: '1MB' });
  const url = `${service.baseUrl}/image?seq={}`;
  const form = (file: string): string => `curl -s -o /dev/null -w '%{http_code}\\n' --form device_id=device_1 --form image=@${file} '${url}'`;

  console.log(`seed: seq 1 ${o.identical} | xargs -P ${o.parallel} curl (one small.jpg) ...`);
  const same = await runScript(`seq 1 ${o.identical} | xargs -P ${o.parallel} -I{} ${form(SMALL_JPEG)}`);
  const dir = await cleanup.tempDir('bench-seed-');
  await writeDistinctJpegs(dir, o.distinct);
  console.log(`seed: seq 1 ${o.distinct} | xargs -P ${o.parallel} curl (a different JPEG each) ...`);
  const distinct = await runScript(`seq 1 ${o.distinct} | xargs -P ${o.parallel} -I{} ${form(path.join(dir, '{}.jpg'))}`);
  await service.stop();

  const rows: Row[] = [];
  for (const [label, r, n] of [['same small.jpg (resends)', same, o.identical], ['a different JPEG each', distinct, o.distinct]] as const) {
    const bad = n - (r.codes['202'] ?? 0) - (r.codes['200'] ?? 0);
    rows.push(
      targetRow(bench, `${n.toLocaleString('en')} x curl -P ${o.parallel}, ${label}: answers not 202/200`, `${bad} (${codesText(r.codes)})`, '= 0', bad === 0),
      infoRow(bench, `${n.toLocaleString('en')} x curl, ${label}: wall time`, `${r.seconds.toFixed(1)} s (${(n / r.seconds).toFixed(0)} requests/s)`),
    );
  }
  return rows;
}

interface ScriptResult {
  seconds: number;
  codes: Record<string, number>;
}

async function runScript(script: string): Promise<ScriptResult> {
  const started = performance.now();
  const codes: Record<string, number> = {};
  await new Promise<void>((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const code of lines) codes[code] = (codes[code] ?? 0) + 1;
    });
    child.once('error', reject);
    // xargs exits 123 when a curl failed (e.g. refused connection): counted below as a non-202/200 answer.
    child.once('exit', () => resolve());
  });
  return { seconds: (performance.now() - started) / 1000, codes };
}

/** small.jpg with a JPEG comment segment holding the file's number: n valid, distinct JPEGs named 1.jpg ... n.jpg. */
async function writeDistinctJpegs(dir: string, n: number): Promise<void> {
  const jpeg = await readFile(SMALL_JPEG);
  for (let i = 1; i <= n; i++) {
    const tag = Buffer.from(`seed-${i}`, 'latin1');
    const com = Buffer.from([0xff, 0xfe, 0, 0]);
    com.writeUInt16BE(tag.length + 2, 2);
    await writeFile(path.join(dir, `${i}.jpg`), Buffer.concat([jpeg.subarray(0, 2), com, tag, jpeg.subarray(2)]));
  }
}

function codesText(codes: Record<string, number>): string {
  return Object.entries(codes).sort().map(([c, n]) => `${c || 'none'}: ${n}`).join(', ');
}
