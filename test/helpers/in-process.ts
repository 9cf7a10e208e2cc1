import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { startService, type RunningService } from '../../src/main.js';
import { afterAll, beforeAll } from 'vitest';
import { s3Env, startTestS3, type TestS3 } from './s3.js';

export interface InProcessService {
  service: RunningService;
  baseUrl: string;
  spoolDir: string;
  /** ADMIN_TOKEN, or the one the service generated into the spool. */
  adminToken: string;
  /** `{ authorization: 'Bearer <admin token>' }`: image bytes and metadata need a credential. */
  admin: Record<string, string>;
  files(): Promise<string[]>;
  close(): Promise<void>;
}

export interface InProcessOptions {
  /** Run on this spool (a tmpfs, say) instead of a fresh temporary one; it is left in place on close. */
  spoolDir?: string;
  /** Collect the service's log lines (JSON, level info and up) here. */
  logs?: string[];
}

/** The real service in this process (for fast HTTP tests), on a random port and a fresh spool. */
export async function startInProcess(s3: TestS3, env: Record<string, string> = {}, options: InProcessOptions = {}): Promise<InProcessService> {
  const spoolDir = options.spoolDir ?? await mkdtemp(path.join(os.tmpdir(), 'spool-'));
  // The SDK's default credential chain reads the process environment, as in production.
  process.env['AWS_ACCESS_KEY_ID'] = 'S3RVER';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'S3RVER';
  const config = loadConfig({ ...s3Env(s3), HOST: '127.0.0.1', PORT: '0', SPOOL_DIR: spoolDir, RETRY_BASE_MS: '20', ...env });
  const logs = options.logs;
  const log = logs
    ? pino({ level: 'info' }, { write: (line: string) => { logs.push(line); } })
    : pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const service = await startService(config, log);
  const adminToken = config.adminToken ?? (await readFile(path.join(spoolDir, 'admin.token'), 'utf8')).trim();
  return {
    service,
    baseUrl: `http://127.0.0.1:${service.port}`,
    spoolDir,
    adminToken,
    admin: { authorization: `Bearer ${adminToken}` },
    files: () => readdir(path.join(spoolDir, 'images')),
    async close() {
      await service.stop();
      if (!options.spoolDir) await rm(spoolDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Registers beforeAll/afterAll for a suite that needs one S3 test server and one in-process service;
 * the returned object's fields are set once beforeAll has run.
 */
export function useInProcessService(env: Record<string, string> = {}): { s3: TestS3; svc: InProcessService } {
  const ctx = {} as { s3: TestS3; svc: InProcessService };
  beforeAll(async () => {
    ctx.s3 = await startTestS3();
    ctx.svc = await startInProcess(ctx.s3, env);
  });
  afterAll(async () => {
    await ctx.svc?.close();
    await ctx.s3?.close();
  });
  return ctx;
}
