/**
 * A describe block for tests that need something of the host (FUSE, root, a Python module, ...). Where it is
 * missing the block is skipped with the reason printed, except in CI (CI=true), where it becomes one failing
 * test naming what is missing: a CI host that silently skips proves nothing.
 */
import { describe, it } from 'vitest';

export function describeOrSkip(name: string, missing: string | null, body: () => void): void {
  if (missing === null) {
    describe(name, body);
  } else if (process.env['CI'] === 'true') {
    describe(name, () => {
      it('can run here (CI=true: these tests must not skip)', () => {
        throw new Error(`cannot run "${name}": ${missing}`);
      });
    });
  } else {
    console.warn(`SKIPPED ${name}: ${missing}`);
    describe.skip(name, body);
  }
}
