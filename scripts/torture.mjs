#!/usr/bin/env node
// npm run torture -- --cycles N [--faults 0.05] [--seed S]
// SIGKILL cycles while devices post and uploads run through an S3 fault proxy, then the checker
// (test/crash/crash-resume.test.ts): acknowledged, missing, corrupt, duplicate, orphan.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const cycles = value('cycles', '200');
if (!/^\d+$/.test(cycles) || Number(cycles) < 1) {
  console.error('usage: npm run torture -- --cycles N [--faults 0.05] [--seed S]');
  process.exit(2);
}
const env = { ...process.env, CRASH_CYCLES: cycles, CRASH_FAULTS: value('faults', '0.05') };
const seed = value('seed', undefined);
if (seed !== undefined) env.CRASH_SEED = seed;
const result = spawnSync('npx', ['vitest', 'run', 'test/crash/crash-resume.test.ts'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
