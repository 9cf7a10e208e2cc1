// `npm run docs:config`: writes docs/CONFIG.md and the README's settings table from the declarations in
// src/config/variables.ts (through the build in dist/). `--check` writes nothing and exits 1 when either differs.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConfigDoc, withReadmeSettings } from '../dist/src/config/doc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const files = [
  [path.join(root, 'docs/CONFIG.md'), async () => renderConfigDoc()],
  [path.join(root, 'README.md'), async (current) => withReadmeSettings(current)],
];
let stale = 0;
for (const [file, render] of files) {
  const current = await readFile(file, 'utf8').catch(() => '');
  const wanted = await render(current);
  if (current === wanted) continue;
  stale++;
  if (check) console.error(`${path.relative(root, file)} differs from src/config/variables.ts: run npm run docs:config`);
  else await writeFile(file, wanted);
  if (!check) console.log(`wrote ${path.relative(root, file)}`);
}
process.exitCode = check && stale > 0 ? 1 : 0;
