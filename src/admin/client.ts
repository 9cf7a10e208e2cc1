import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { ERROR_STATUS, SpoolError, errnoCode, type ErrorCode } from '../errors.js';
import { ADMIN_TOKEN_FILE } from './token.js';

/** The CLI's way into a running service: its admin API with the admin token. */
export async function adminRequest(config: Config, method: 'GET' | 'PUT' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown> {
  const token = config.adminToken ?? (await readTokenFile(config.spoolDir).catch(async (err: unknown) => {
    // No token file usually means the service never ran here: say that rather than "unauthorized".
    if (!(await serviceAnswers(config))) throw unreachable(config, err);
    throw err;
  }));
  let res: Response;
  try {
    res = await fetch(new URL(route, config.serviceUrl), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      // A service that accepts the connection but never answers must not hang the CLI.
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    throw unreachable(config, err);
  }
  const json: unknown = await res.json().catch(() => null);
  if (!res.ok) throw serverError(res.status, json);
  return json;
}

function unreachable(config: Config, cause: unknown): SpoolError {
  return new SpoolError('service_unreachable', `cannot reach the service at ${config.serviceUrl} (set IMAGE_SPOOL_URL or PORT)`, { cause });
}

/** Whether anything answers HTTP at the service's address (`/healthz` is public: no token needed to ask). */
export async function serviceAnswers(config: Config): Promise<boolean> {
  try {
    await (await fetch(new URL('/healthz', config.serviceUrl), { signal: AbortSignal.timeout(5_000) })).arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

/** The service's own error code and message, so the CLI says what the service said. */
function serverError(status: number, body: unknown): SpoolError {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof error?.code === 'string' && error.code in ERROR_STATUS ? (error.code as ErrorCode) : 'internal';
  const message = typeof error?.message === 'string' ? error.message : `HTTP ${status} from the service`;
  return new SpoolError(code, message);
}

async function readTokenFile(spoolDir: string): Promise<string> {
  const file = path.join(spoolDir, ADMIN_TOKEN_FILE);
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EACCES') {
      throw new SpoolError('unauthorized', `no ADMIN_TOKEN and cannot read ${file}`, { cause: err });
    }
    throw err;
  }
}
