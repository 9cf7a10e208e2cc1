#!/usr/bin/env node
// npm run powerloss -- --cycles N [--seed S] [--modes clean,torn,reorder] [--lanes 150] [--broken all|NAME,...]
// Power cuts through the FUSE layer of test/powerloss (root, /dev/fuse, python3-fusepy): each cycle prints
// receipts / survived / lost / corrupt and the seed. With --broken, the same cuts against deliberately broken
// builds (test/powerloss/broken-builds.ts), which must lose receipts.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const cycles = value('cycles', '20');
const seed = value('seed', String(Math.floor(Math.random() * 2 ** 32)));
if (!/^\d+$/.test(cycles) || Number(cycles) < 1 || !/^\d+$/.test(seed)) {
  console.error('usage: npm run powerloss -- --cycles N [--seed S] [--modes clean,torn,reorder] [--lanes 150] [--broken all|NAME,...]');
  process.exit(2);
}
const broken = value('broken', '');
const env = {
  ...process.env, POWERLOSS_SEED: seed, POWERLOSS_CUT_MODES: value('modes', 'clean,torn,reorder'), POWERLOSS_LANES: value('lanes', '150'),
  POWERLOSS_CYCLES: cycles, POWERLOSS_BROKEN: broken, POWERLOSS_BROKEN_CYCLES: cycles,
};
console.log(`powerloss: seed=${seed} cycles=${cycles}${broken ? ` broken=${broken}` : ''}`);
const filter = broken ? 'broken builds' : 'power cuts';
const result = spawnSync('npx', ['vitest', 'run', 'test/powerloss/service.test.ts', '-t', filter], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
