/**
 * A copy of the built package with string patches applied to its compiled JS, to prove a test fails on a
 * build with one step broken (src/ is never touched). bin/, dist/src/, migrations/, package.json and the
 * status page's HTML (read from src/ at start; tsc does not copy it) are copied; node_modules is a symlink.
 * Each patch point must occur exactly once, so a change in src/ that moves it fails here loudly instead of
 * leaving an unbroken "broken" build.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface Patch {
  /** Path under the package root, e.g. dist/src/spool/store.js. */
  file: string;
  from: string;
  to: string;
}

export interface PatchedBuild {
  /** The copy's bin/image-spool.cjs. */
  cli: string;
  remove: () => Promise<void>;
}

/** `name` labels the temp folder and the error when a patch point is not found exactly once. */
export async function patchedBuild(name: string, patches: readonly Patch[]): Promise<PatchedBuild> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `image-spool-patched-${name}-`));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await mkdir(path.join(dir, 'dist'));
    await cp(path.join(ROOT, 'dist/src'), path.join(dir, 'dist/src'), { recursive: true });
    await cp(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
    await cp(path.join(ROOT, 'migrations'), path.join(dir, 'migrations'), { recursive: true });
    await cp(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
    await cp(path.join(ROOT, 'src/status/page.html'), path.join(dir, 'src/status/page.html'), { recursive: true });
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    for (const p of patches) {
      const file = path.join(dir, p.file);
      const text = await readFile(file, 'utf8');
      const count = text.split(p.from).length - 1;
      if (count !== 1) throw new Error(`patched build ${name}: patch point ${JSON.stringify(p.from)} occurs ${count} times in ${p.file} (expected 1); update the patch`);
      await writeFile(file, text.replace(p.from, p.to));
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { cli: path.join(dir, 'bin/image-spool.cjs'), remove };
}
