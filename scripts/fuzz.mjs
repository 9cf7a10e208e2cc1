#!/usr/bin/env node
// npm run fuzz -- --runs N [--seed S]
// A long random run of the multipart fuzz (test/integration/multipart-fuzz.test.ts) against a real service:
// one seed (random unless given) for N generated uploads. On a failure it prints the seed to replay it
// and to keep as a regression in the test's SEEDS list.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

const TEST = 'test/integration/multipart-fuzz.test.ts';
const USAGE = 'usage: npm run fuzz -- --runs N [--seed S]   (N >= 1; S an integer, random when left out)';

const args = process.argv.slice(2);
const value = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const runs = value('runs') ?? '1000';
const seed = value('seed') ?? String(randomInt(2 ** 31));
if (!/^\d+$/.test(runs) || Number(runs) < 1 || !/^-?\d+$/.test(seed) || !Number.isSafeInteger(Number(seed))) {
  console.error(USAGE);
  process.exit(2);
}

console.log(`multipart fuzz: seed ${seed}, ${runs} runs`);
const result = spawnSync('npx', ['vitest', 'run', TEST], { stdio: 'inherit', env: { ...process.env, FUZZ_SEED: seed, FUZZ_RUNS: runs } });
if (result.status === 0) {
  console.log(`multipart fuzz: seed ${seed}, ${runs} runs: no failure`);
  process.exit(0);
}
console.error(`\nmultipart fuzz FAILED with seed ${seed} (${runs} runs${result.signal ? `, killed by ${result.signal}` : ''}).`);
console.error(`  replay:  npm run fuzz -- --runs ${runs} --seed ${seed}`);
console.error(`  keep it: add { seed: ${seed}, runs: <the failing run + a few>, why: '...' } to SEEDS in ${TEST}`);
process.exit(result.status ?? 1);
