import { startServiceProcess, type ServiceProcess } from './service-process.js';

/**
 * Helpers for the SIGKILL crash-cycle test (test/crash/). Kept apart from service-process.ts so that file
 * stays as other tests expect it.
 */

/**
 * Set to the path of another build's `dist/src/cli.js` to run the crash test against it (used to prove the
 * test fails on a deliberately broken copy). Unset by default: the test then runs this checkout's build
 * through the shared startServiceProcess helper.
 */
export const CLI_OVERRIDE_ENV = 'IMAGE_SPOOL_TEST_CLI';

export function cliOverride(): string | undefined {
  const value = process.env[CLI_OVERRIDE_ENV]?.trim();
  return value ? value : undefined;
}

/** startServiceProcess, or the same thing for the CLI named by IMAGE_SPOOL_TEST_CLI when it is set. */
export function startCrashService(env: Record<string, string>, timeoutMs = 20_000): Promise<ServiceProcess> {
  const cli = cliOverride();
  return startServiceProcess(env, timeoutMs, cli);
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed with the same choices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` until it returns something other than undefined. Fails after `timeoutMs` in total, or
 * earlier when `progress` (if given) has not changed for `stallMs`: a stuck run fails in seconds, with
 * the last observed value in the message.
 */
export async function pollUntil<T>(
  check: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs: number; what: string; intervalMs?: number; progress?: () => unknown; stallMs?: number; describe?: () => string },
): Promise<T> {
  const started = Date.now();
  let lastProgress = options.progress?.();
  let lastChange = started;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    const now = Date.now();
    if (options.progress) {
      const p = options.progress();
      if (p !== lastProgress) {
        lastProgress = p;
        lastChange = now;
      }
    }
    const detail = options.describe ? ` (${options.describe()})` : '';
    if (now - started > options.timeoutMs) throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${detail}`);
    if (options.stallMs !== undefined && now - lastChange > options.stallMs) {
      throw new Error(`no progress for ${options.stallMs} ms waiting for ${options.what}${detail}`);
    }
    await delay(options.intervalMs ?? 25);
  }
}

/** Resolves with `promise`'s value, or rejects after `ms` with a message naming `what`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
