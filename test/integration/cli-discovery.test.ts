/**
 * An operator's shell knows where the spool is, not the service's PORT: the service writes its address into
 * the spool at start, and `--spool DIR` (or SPOOL_DIR) is all the CLI needs. `--url` beats everything;
 * `--version` and `--json` on every command that prints data.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusSnapshot } from '../../src/admin/status.js';
import { runCli } from '../helpers/cli.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/service-process.js';
import { s3Env, startTestS3, type TestS3 } from '../helpers/s3.js';

describe('the CLI finds the running service from its spool', () => {
  let root: string;
  let spool: string;
  let s3: TestS3;
  let svc: ServiceProcess;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'cli-discovery-'));
    spool = path.join(root, 'spool');
    s3 = await startTestS3();
    // PORT=0: the kernel picks the port, so nothing but the spool can tell the CLI where the service is.
    svc = await startServiceProcess({ ...s3Env(s3), SPOOL_DIR: spool, SPOOL_MIN_FREE_BYTES: '0' });
  });
  afterAll(async () => {
    svc?.kill('SIGKILL');
    await svc?.exited;
    await s3?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('writes its URL, pid and version into the spool', () => {
    const info = JSON.parse(readFileSync(path.join(spool, 'service.json'), 'utf8')) as Record<string, unknown>;
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
    expect(info).toMatchObject({ url: svc.baseUrl, pid: svc.child.pid, version: pkg.version });
  });

  it('status, bwlimit and requeue reach it with --spool alone (no PORT, no IMAGE_SPOOL_URL, no SPOOL_DIR)', async () => {
    const status = await runCli(['status', '--json', '--spool', spool], {});
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as StatusSnapshot).service).toBe('up');
    const bw = await runCli(['bwlimit', '--json', `--spool=${spool}`], {});
    expect(bw.code, bw.stderr).toBe(0);
    expect(JSON.parse(bw.stdout)).toMatchObject({ source: 'schedule' });
    const human = await runCli(['bwlimit', '--spool', spool], {});
    expect(human.stdout).toMatch(/^cap +\S+ from schedule "100Mbit" \(UPLOAD_BWLIMIT\)$/m);
    const requeue = await runCli(['requeue', '--dead', '--json', '--spool', spool], {});
    expect(requeue.code, requeue.stderr).toBe(0);
    expect(JSON.parse(requeue.stdout)).toEqual({ requeued: [], skipped: [] });
  });

  it('--url beats the spool file; a wrong one is reported as unreachable', async () => {
    const r = await runCli(['bwlimit', '--spool', spool, '--url', 'http://127.0.0.1:9'], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/service_unreachable: cannot reach the service at http:\/\/127\.0\.0\.1:9/);
    const ok = await runCli(['bwlimit', '--json', '--url', svc.baseUrl], { SPOOL_DIR: spool });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a clean stop removes the file, so the CLI reads the ledger and says the service is down', async () => {
    svc.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    expect(existsSync(path.join(spool, 'service.json'))).toBe(false);
    const status = await runCli(['status', '--json', '--spool', spool], {});
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as StatusSnapshot).service).toBe('down');
  });
});

describe('image-spool --version', () => {
  it('prints the package version, with no configuration needed', async () => {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag], {});
      expect(r).toMatchObject({ code: 0, stdout: `image-spool ${pkg.version}\n` });
    }
  });
});
