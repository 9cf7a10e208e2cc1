import { spawnSync } from 'node:child_process';

/** Why strace cannot run here (missing, or ptrace not permitted), or null: the tests that need it skip, saying why. */
export function straceUnavailable(): string | null {
  const probe = spawnSync('strace', ['-f', '-o', '/dev/null', 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error) return `strace is not installed (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); install the Debian package strace`;
  if (probe.status !== 0) return `strace cannot trace here (ptrace not permitted?): ${probe.stderr.trim().split('\n')[0] ?? `exit ${probe.status}`}`;
  return null;
}
