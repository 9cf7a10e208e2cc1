/**
 * Static checks of deploy/Dockerfile, deploy/compose.yaml and the systemd unit, fast and without a container
 * engine (test/container/ builds and runs the image and the compose file with podman): every environment
 * variable they set is one the service reads, the paths they copy exist, the spool is the volume, the user
 * is not root, the bucket the compose S3 target creates is the one the service uses, and the HEALTHCHECK
 * command, run as written, passes on a ready service and fails on a not-ready or absent one.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VARIABLES } from '../../src/config/variables.js';
import { fakeJpeg, postImage } from '../helpers/images.js';
import { useInProcessService } from '../helpers/in-process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const dockerfile = read('deploy/Dockerfile');
const compose = read('deploy/compose.yaml');
const unit = read('deploy/image-spool.service');

/** Read by the AWS SDK's credential chain, libuv, glibc or Node, not by src/config.ts (which reads only what src/config/variables.ts declares). */
const READ_ELSEWHERE = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'UV_THREADPOOL_SIZE', 'MALLOC_ARENA_MAX', 'NODE_OPTIONS', 'NODE_ENV']);
const readByService = (name: string): boolean => READ_ELSEWHERE.has(name) || name in VARIABLES;

/** A service's block of compose.yaml (two-space indented under `services:`). */
function composeService(name: string): string {
  return new RegExp(`^  ${name}:\\n((?:(?:    .*)?\\n)*)`, 'm').exec(compose)?.[1] ?? '';
}

/** The Dockerfile with continuation lines joined, one instruction per entry. */
const instructions = dockerfile.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => /^[A-Z]+\s/.test(l));
const stages = instructions.filter((l) => l.startsWith('FROM '));
const runtime = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));

describe('deploy/Dockerfile', () => {
  it('builds in one stage and runs in node:24-bookworm-slim as a user that is not root', () => {
    expect(stages).toEqual(['FROM node:24-bookworm AS build', 'FROM node:24-bookworm-slim']);
    const user = runtime.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBe('USER image-spool');
  });

  it('sets only variables the service reads, and keeps the spool on the volume', () => {
    const env = Object.fromEntries(runtime.filter((l) => l.startsWith('ENV ')).flatMap((l) => [...l.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!])));
    expect(Object.keys(env).filter((name) => !readByService(name))).toEqual([]);
    expect(runtime).toContain(`VOLUME ${env['SPOOL_DIR']}`);
    expect(runtime.find((l) => l.startsWith('ENTRYPOINT '))).toBe('ENTRYPOINT ["node", "bin/image-spool.cjs"]');
  });

  it('runs with the memory and thread-pool settings of the systemd unit (what bench/ measures)', () => {
    const env = Object.fromEntries(runtime.filter((l) => l.startsWith('ENV ')).flatMap((l) => [...l.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!])));
    for (const name of ['UV_THREADPOOL_SIZE', 'MALLOC_ARENA_MAX', 'NODE_OPTIONS']) {
      const inUnit = new RegExp(`^Environment=${name}=(\\S+)$`, 'm').exec(unit)?.[1];
      expect(inUnit, name).toBeDefined();
      expect(env[name], name).toBe(inUnit);
    }
  });

  it('copies paths that exist in the repository', () => {
    const sources = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((p) => !existsSync(path.join(ROOT, p)))).toEqual([]);
  });
});

describe('deploy/compose.yaml', () => {
  it('sets only variables the service reads, and points it at the bucket its S3 target creates', () => {
    const service = composeService('image-spool');
    const env = Object.fromEntries([...service.matchAll(/^ {6}([A-Z_][A-Z0-9_]*): (.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    expect(Object.keys(env).filter((name) => !readByService(name))).toEqual([]);
    expect(env['S3_ENDPOINT']).toBe('http://s3:4568');
    expect(composeService('s3')).toContain(`"--port", "4568", "--no-vhost-buckets", "--configure-bucket", "${env['S3_BUCKET']}"`);
    const volume = /VOLUME (\S+)/.exec(dockerfile)?.[1];
    expect(service).toMatch(new RegExp(`- spool:${volume}\\n`));
    expect(service).toContain('dockerfile: deploy/Dockerfile');
  });

  it('runs only the image built from this repository, tagged with its version (no registry image, nothing unpinned)', () => {
    const version = (JSON.parse(read('package.json')) as { version: string }).version;
    const images = [...compose.matchAll(/^ {4}image: (.*)$/gm)].map((m) => m[1]);
    expect(images).toEqual([`\${IMAGE_SPOOL_IMAGE:-localhost/image-spool:${version}}`, `\${IMAGE_SPOOL_IMAGE:-localhost/image-spool:${version}}`]);
  });
});

describe('deploy/image-spool.service environment', () => {
  it('sets only variables the service reads', () => {
    const names = [...unit.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    expect(names).toContain('SPOOL_DIR');
    expect(names.filter((name) => !readByService(name))).toEqual([]);
  });
});

describe('the Dockerfile HEALTHCHECK command', () => {
  const ctx = useInProcessService({ SPOOL_MIN_FREE_BYTES: '0' });
  const command = JSON.parse(/HEALTHCHECK [^[]*CMD (\[.*\])/.exec(instructions.join('\n'))?.[1] ?? 'null') as string[];
  // Asynchronously: the service answering it runs in this process.
  const runCheck = (port: number): Promise<number | null> => {
    expect(command[0]).toBe('node');
    const child = spawn(process.execPath, command.slice(1), { env: { PORT: String(port) }, stdio: 'ignore', timeout: 10_000 });
    return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  };

  it('asks /readyz: exit 0 when ready, 1 when not ready or not listening', async () => {
    expect(command.join(' ')).toContain('/readyz');
    expect(await runCheck(ctx.svc.service.port)).toBe(0);
    const images = path.join(ctx.svc.spoolDir, 'images');
    await rename(images, `${images}.moved`);
    try {
      expect((await fetch(`${ctx.svc.baseUrl}/readyz`)).status).toBe(503);
      expect(await runCheck(ctx.svc.service.port)).toBe(1);
    } finally {
      await rename(`${images}.moved`, images);
    }
    expect(await runCheck(1)).toBe(1); // nothing listens on port 1
  });
});

describe('deploy/image-spool-cli (the CLI with the unit\'s settings)', () => {
  const ctx = useInProcessService({ SPOOL_MIN_FREE_BYTES: '0' });

  const run = (envFile: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const child = spawn('sh', [path.join(ROOT, 'deploy/image-spool-cli'), ...args], {
      env: { PATH: `${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}`, IMAGE_SPOOL_ENV: envFile, IMAGE_SPOOL_HOME: ROOT },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  };

  it('reads the EnvironmentFile (quoted timetable included) and reaches the ledger and the running service', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cli-env-'));
    try {
      const envFile = path.join(dir, 'env');
      await writeFile(envFile, `# as in /etc/image-spool/env\nSPOOL_DIR=${ctx.svc.spoolDir}\nPORT=${ctx.svc.service.port}\nUPLOAD_BWLIMIT="08:00,40Mbit 18:00,100Mbit"\n`);
      expect((await postImage(ctx.svc.baseUrl, 'cam-1', fakeJpeg(10_000))).status).toBe(202);
      const status = await run(envFile, ['status', '--json']);
      expect(status).toMatchObject({ code: 0, stderr: '' });
      const report = JSON.parse(status.stdout) as { backlog: { queued: number; uploading: number }; totals: { uploaded: number } };
      expect(report.backlog.queued + report.backlog.uploading + report.totals.uploaded).toBe(1);
      const bwlimit = await run(envFile, ['bwlimit', '--json']); // the admin API, with the token file in SPOOL_DIR
      expect(bwlimit).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(bwlimit.stdout)).toHaveProperty('rate_bytes_per_sec');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
