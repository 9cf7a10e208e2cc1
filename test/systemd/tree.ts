/**
 * The root file system the nspawn test boots: Debian bookworm with systemd as PID 1, built by debootstrap
 * from the mirror apt already uses, and kept between runs (it is only ever booted through an overlay, so a
 * run never changes it). Building it costs ~85 s on an idle machine of this kind (~3 min under load) and
 * ~290 MB; a cached tree costs nothing.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export const TREE_ENV = 'IMAGE_SPOOL_NSPAWN_TREE';
export const DEFAULT_TREE = '/var/cache/image-spool-ci/nspawn-bookworm';
const SUITE = 'bookworm';
const FALLBACK_MIRROR = 'http://deb.debian.org/debian';
const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'python3'];
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** debootstrap lives in /usr/sbin, which a non-login PATH may lack. */
export const HOST_PATH = [process.env['PATH'] ?? '', '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter(Boolean).join(':');

export function treeDir(): string {
  return process.env[TREE_ENV]?.trim() || DEFAULT_TREE;
}

/** Why the container cannot be had here, or null. */
export function nspawnMissing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn, an overlay mount, nsenter)';
  if (process.platform !== 'linux') return 'needs Linux';
  for (const [program, pkg] of [['systemd-nspawn', 'systemd-container'], ['nsenter', 'util-linux'], ['mount', 'mount']] as const) {
    if (!onPath(program)) return `${program} is not installed (Debian package ${pkg})`;
  }
  if (!readFileSync('/proc/filesystems', 'utf8').includes('\toverlay')) return 'the kernel has no overlay file system';
  if (!treeReady(treeDir()) && !onPath('debootstrap')) return `no cached tree at ${treeDir()} and debootstrap is not installed (Debian package debootstrap)`;
  return null;
}

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${program}`], { env: { PATH: HOST_PATH } }).status === 0;
}

/** A tree is only ever renamed into place once debootstrap finished, so its init is the proof. */
function treeReady(dir: string): boolean {
  return existsSync(path.join(dir, 'usr/lib/systemd/systemd')) && existsSync(path.join(dir, 'usr/bin/systemctl'));
}

/**
 * The Debian archive apt is configured with (sources.list or deb822 .sources), so the tree comes from the
 * same mirror or snapshot as the host's packages; the public mirror when none is found.
 */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').filter((f) => /\.(list|sources)$/.test(f))];
  for (const file of files.filter((f) => existsSync(f))) {
    const text = readFileSync(file, 'utf8');
    const found = file.endsWith('.sources') ? fromDeb822(text) : fromOneLine(text);
    if (found) return found;
  }
  return FALLBACK_MIRROR;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

function fromOneLine(text: string): string | null {
  for (const line of text.split('\n')) {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m && m[2] === SUITE && m[3]?.split(/\s+/).includes('main')) return m[1] ?? null;
  }
  return null;
}

function fromDeb822(text: string): string | null {
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string): string[] => new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
    if (field('Enabled')[0] === 'no' || !field('Types').includes('deb')) continue;
    if (field('Suites').includes(SUITE) && field('Components').includes('main')) return field('URIs')[0] ?? null;
  }
  return null;
}

/** The cached tree, built first when it is missing. */
export async function ensureTree(log: (line: string) => void): Promise<string> {
  const dir = treeDir();
  if (treeReady(dir)) return dir;
  const mirror = debianMirror();
  const partial = `${dir}.partial-${process.pid}`;
  log(`no nspawn tree at ${dir}: building it with debootstrap from ${mirror} (cold cache: ~85-180 s, ~290 MB)`);
  const started = Date.now();
  await mkdir(path.dirname(dir), { recursive: true });
  await rm(partial, { recursive: true, force: true });
  try {
    await run('debootstrap', ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, partial, mirror], BUILD_TIMEOUT_MS);
    if (!treeReady(partial)) throw new Error(`debootstrap finished but ${partial} has no systemd`);
    await rename(partial, dir);
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    // Another run may have built and renamed its tree first: use that one.
    if (!treeReady(dir)) throw err;
  }
  log(`nspawn tree built in ${Math.round((Date.now() - started) / 1000)} s`);
  return dir;
}

function run(program: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(program, args, { env: { ...process.env, PATH: HOST_PATH }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${program} failed (${err.message.split('\n')[0]}):\n${(stdout + stderr).slice(-3000)}`));
      else resolve();
    });
  });
}
