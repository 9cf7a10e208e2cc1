/**
 * Installs image-spool into a booted container the way docs/OPERATIONS.md ("Install") says, with one
 * difference: step 1 (clone, npm ci, build at /opt/image-spool) is this checkout's built files bound
 * read-only at the same place, and the test's own Node binary at /usr/bin/node, where the unit's
 * ExecStart expects it. So the unit file runs exactly as shipped: copied from deploy/, no drop-in.
 */
import { existsSync, realpathSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Bind, Container } from './container.js';

export const PREFIX = '/opt/image-spool';
export const UNIT = 'image-spool.service';

/**
 * What the installed layout needs at run time (OPERATIONS.md: dist/, bin/, migrations/, node_modules/,
 * plus package.json for --version and deploy/ for the unit and CLI wrapper), bound one by one: a
 * node_modules that is a symlink (a worktree sharing another checkout's) is bound as its target.
 */
export function programBinds(checkout: string): Bind[] {
  const entries = ['bin', 'dist', 'migrations', 'deploy', 'node_modules', 'package.json'];
  const binds = entries.map((entry) => {
    const source = realpathSync(path.join(checkout, entry));
    return { source, target: `${PREFIX}/${entry}` };
  });
  if (!existsSync(path.join(checkout, 'dist/src/cli.js'))) throw new Error(`${checkout}/dist is not built: run npm run build first`);
  return [...binds, { source: process.execPath, target: '/usr/bin/node' }];
}

/** `KEY=value` lines for /etc/image-spool/env (EnvironmentFile= syntax). */
function envFile(env: Readonly<Record<string, string>>): string {
  return Object.entries(env).map(([key, value]) => `${key}=${/[\s"'\\$]/.test(value) ? JSON.stringify(value) : value}\n`).join('');
}

/** Steps 2-4 of the runbook: the user, the settings file, the unit and the CLI wrapper, daemon-reload, enable (not yet --now). */
export async function installService(c: Container, env: Readonly<Record<string, string>>): Promise<void> {
  await c.must(['useradd', '--system', '--user-group', '--home-dir', '/var/lib/image-spool', '--shell', '/usr/sbin/nologin', 'image-spool']);
  await c.must(['install', '-d', '-m', '0750', '-o', 'root', '-g', 'image-spool', '/etc/image-spool']);
  // Written through the overlay from the host, then given the runbook's owner and mode inside.
  await mkdir(path.join(c.root, 'etc/image-spool'), { recursive: true });
  const file = path.join(c.root, 'etc/image-spool/env');
  await writeFile(file, envFile(env), { mode: 0o640 });
  await chmod(file, 0o640);
  await c.must(['chown', 'root:image-spool', '/etc/image-spool/env']);
  await c.must(['cp', `${PREFIX}/deploy/${UNIT}`, '/etc/systemd/system/']);
  await c.must(['install', '-m', '0755', `${PREFIX}/deploy/image-spool-cli`, '/usr/local/bin/image-spool']);
  await c.must(['systemctl', 'daemon-reload']);
  await c.must(['systemctl', 'enable', UNIT]);
}
