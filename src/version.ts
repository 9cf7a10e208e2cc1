import { readFileSync } from 'node:fs';

/**
 * The package's version, read from its package.json: two folders up from `src/` in a checkout, three from
 * `dist/src/` when built or installed from the registry.
 */
export function packageVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'image-spool' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return 'unknown';
}
