/**
 * The package as a user gets it: `npm pack` (its prepack builds dist/), installed from the tarball into an
 * empty folder without optional dependencies, then run through its bin. A checkout hides a missing `files`
 * entry or a build step; this does not. Slow (better-sqlite3 compiles from source here: 1-4 min).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeJpeg } from '../helpers/images.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const INSTALL_TIMEOUT_MS = 10 * 60_000;

describe('npm pack, installed into an empty folder', () => {
  let dir: string;
  let bin: string;
  let s3: TestS3;
  const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pack-install-'));
    await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, timeout: INSTALL_TIMEOUT_MS });
    const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error('npm pack made no tarball');
    const app = path.join(dir, 'app');
    await mkdir(app);
    await writeFile(path.join(app, 'package.json'), '{"name":"app","private":true}\n');
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', path.join(dir, tarball)],
      { cwd: app, timeout: INSTALL_TIMEOUT_MS, maxBuffer: 16 * 2 ** 20 });
    bin = path.join(app, 'node_modules/.bin/image-spool');
    s3 = await startTestS3();
  }, INSTALL_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ships the build and the migrations, and not the embedded S3 target when optional dependencies are left out', () => {
    const pkg = path.join(dir, 'app/node_modules/image-spool');
    expect(existsSync(path.join(pkg, 'dist/src/cli.js'))).toBe(true);
    expect(existsSync(path.join(pkg, 'dist/src/status/page.html'))).toBe(true);
    expect(existsSync(path.join(pkg, 'migrations/0001_init.sql'))).toBe(true);
    expect(existsSync(path.join(pkg, 'src'))).toBe(false);
    expect(existsSync(path.join(dir, 'app/node_modules/s3rver'))).toBe(false);
  });

  it('image-spool --version', async () => {
    const { stdout } = await run(bin, ['--version']);
    expect(stdout).toBe(`image-spool ${version}\n`);
  });

  it('image-spool serve with a bucket answers /healthz and takes an image', async () => {
    const spool = path.join(dir, 'spool');
    const child = spawn(bin, ['serve'], { env: { PATH: process.env['PATH'] ?? '', ...s3Env(s3), SPOOL_DIR: spool, HOST: '127.0.0.1', PORT: '0', SPOOL_MIN_FREE_BYTES: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "listening" line in 30 s:\n${out}`)), 30_000);
        const onData = (chunk: Buffer): void => {
          out += chunk.toString();
          const m = /"port":(\d+)[^\n]*image-spool listening/.exec(out);
          if (m) { clearTimeout(timer); resolve(Number(m[1])); }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited ${code}:\n${out}`)); });
      });
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      const form = new FormData();
      form.set('device_id', 'cam-pack');
      form.set('image', new Blob([fakeJpeg(10_000)], { type: 'image/jpeg' }), 'a.jpg');
      const res = await fetch(`http://127.0.0.1:${port}/image`, { method: 'POST', body: form });
      expect(res.status, await res.clone().text()).toBe(202);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('without S3_BUCKET and without s3rver installed, serve says what to do and exits 2', async () => {
    const err = await run(bin, ['serve'], { env: { PATH: process.env['PATH'] ?? '', SPOOL_DIR: path.join(dir, 'spool2'), HOST: '127.0.0.1', PORT: '0', SPOOL_MIN_FREE_BYTES: '0' } })
      .then(() => null, (e: { code: number; stderr: string }) => e);
    expect(err?.code).toBe(2);
    expect(err?.stderr).toMatch(/config_invalid: S3_BUCKET is not set and the embedded S3 target \(the optional dependency s3rver\) is not installed/);
  });
});
