import { readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The running service writes where it answers into its spool, so an operator's CLI finds it from the spool
 * alone (`image-spool status --spool /var/lib/image-spool`) without repeating PORT or HOST. Advisory only:
 * a file left by a crash names an address nothing answers at, which the CLI reports as the service down.
 */
export const SERVICE_FILE = 'service.json';

export interface ServiceFile {
  url: string;
  pid: number;
  version: string;
  started_at: string;
}

/** The URL a local client uses for a service bound to `host` (a wildcard bind is reached on loopback). */
export function localUrl(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

export async function writeServiceFile(spoolDir: string, info: ServiceFile): Promise<void> {
  const file = path.join(spoolDir, SERVICE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(info)}\n`, { mode: 0o644 });
  await rename(tmp, file); // readers never see half a file
}

export async function removeServiceFile(spoolDir: string): Promise<void> {
  await rm(path.join(spoolDir, SERVICE_FILE), { force: true });
}

/** The URL the service last wrote into this spool, or null when there is none (never ran, or unreadable). */
export function readServiceUrl(spoolDir: string): string | null {
  try {
    const info = JSON.parse(readFileSync(path.join(spoolDir, SERVICE_FILE), 'utf8')) as Partial<ServiceFile>;
    return typeof info.url === 'string' && /^https?:\/\//.test(info.url) ? info.url : null;
  } catch {
    return null;
  }
}
