/**
 * The "any S3 server" contract (contract.ts) against a real, independently written S3 server: Ceph RADOS
 * Gateway 16 from Debian, a single-node cluster started once for this file (test/helpers/ceph-rgw.ts) and
 * torn down at its end. Skips with the reason where Ceph is not installed, except under CI=true (`.ci/run`
 * installs it), where a missing Ceph fails the suite.
 */
import { cephMissing } from '../helpers/ceph-rgw.js';
import { anyS3Contract } from './contract.js';
import { cephRgwTarget } from './targets.js';

const missing = cephMissing();
const inCi = process.env['CI'] === 'true';
if (missing !== null && !inCi) console.warn(`SKIPPED any S3 server: Ceph RADOS Gateway: ${missing}`);

anyS3Contract('any S3 server: Ceph RADOS Gateway', async () => {
  if (missing !== null) throw new Error(`CI=true, so the Ceph RGW suite must run, but ${missing}`);
  const target = await cephRgwTarget();
  console.log(`Ceph RGW cluster up in ${target.startSeconds.toFixed(1)} s`);
  return target;
}, { skip: missing !== null && !inCi });
