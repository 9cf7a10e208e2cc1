/**
 * The container engine the tests drive: Debian's podman (4.3) as root, every call with deploy/containers.conf
 * (runc and ulimits this host kind needs).
 */
import { randomBytes } from 'node:crypto';

// The process and build helpers live in bench/podman.ts: the container bench runs compiled from dist/.
// Skipped where the engine is missing, a failure under CI=true: test/helpers/describe-or-skip.ts.
export { describeOrSkip as describeWithEngine } from '../helpers/describe-or-skip.js';
export { CONTAINERS_CONF, ok, podman, run, type Run } from '../../bench/podman.js';
export { buildImage, engineMissing, ensureBaseImages, imageBytes, removeImage } from '../../bench/podman.js';
export { ROOT } from '../../bench/harness.js';

/** Unique names for one test run: parallel runs (other checkouts on the same machine) share podman's storage. */
export function runId(): string {
  return `image-spool-test-${process.pid}-${randomBytes(3).toString('hex')}`;
}
