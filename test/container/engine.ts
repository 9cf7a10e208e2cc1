/**
 * The container engine the tests drive: Debian's podman (4.3) as root, every call with deploy/containers.conf
 * (runc and ulimits this host kind needs). Also decides whether the container tests can run here: they skip
 * with a printed reason where no engine is installed, except in CI (CI=true), where that is a failure.
 */
import { randomBytes } from 'node:crypto';
import { describe, it } from 'vitest';
import { engineMissing } from '../../bench/podman.js';

// The process and build helpers live in bench/podman.ts: the container bench runs compiled from dist/.
export { CONTAINERS_CONF, ok, podman, run, type Run } from '../../bench/podman.js';
export { buildImage, engineMissing, ensureBaseImages, imageBytes, removeImage } from '../../bench/podman.js';
export { ROOT } from '../../bench/harness.js';

/** Unique names for one test run: parallel runs (other checkouts on the same machine) share podman's storage. */
export function runId(): string {
  return `image-spool-test-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/**
 * A describe block that runs only with a container engine. Without one it is skipped with the reason
 * printed, except in CI, where it becomes one failing test naming what is missing.
 */
export function describeWithEngine(name: string, missing: string | null, body: () => void): void {
  if (missing === null) {
    describe(name, body);
  } else if (process.env['CI'] === 'true') {
    describe(name, () => {
      it('has a container engine (CI=true: the container tests must not skip)', () => {
        throw new Error(`cannot run the container tests: ${missing}`);
      });
    });
  } else {
    console.warn(`SKIPPED ${name}: ${missing}`);
    describe.skip(name, body);
  }
}
