import { existsSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type Config } from '../config.js';
import { SpoolError } from '../errors.js';
import { openLedger } from '../ledger/open.js';
import { uploadedRows } from '../ledger/uploaded-rows.js';
import type { Finding } from '../s3/verify-object.js';
import { expectPositionals, intOption, parseArgs, stringOption, UsageError } from './args.js';
import type { Command } from './command.js';
import { ledgerFile } from './ledger-status.js';
import { differences, verifyRows, type VerifySummary } from './verify-run.js';

const CONCURRENCY = 8;
const STALL_TIMEOUT_MS = 30_000;

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'compare the ledger with the bucket: every uploaded image has its object, size and SHA-256   [--deep]',
  usage: `usage: image-spool verify [--deep] [--limit N] [--since ISO-TIME] [--json]

For every \`uploaded\` row of $SPOOL_DIR/ledger.db (opened read-only, read a page at a time), checks its
object in the bucket (S3_BUCKET, S3_ENDPOINT, ...: the service's own configuration and credentials),
${CONCURRENCY} requests at a time:
  missing            no object at the row's s3_key
  size_mismatch      the object's length is not the row's bytes
  checksum_mismatch  the object's SHA-256 is not the row's sha256
  checksum_missing   (without --deep) the object carries neither our sha256 metadata nor a SHA-256 checksum
  error              S3 did not answer after 3 tries: not checked

  --deep       GET every object and hash its bytes (streamed) instead of trusting HEAD's metadata and
               checksum; catches an object changed in place, and servers that ignore checksums. Downloads
               the whole bucket: mind the egress cost and the uplink.
  --limit N    check at most N rows (in id order, oldest first)
  --since T    only rows uploaded at or after T (ISO 8601, e.g. 2026-05-01 or 2026-05-01T12:00:00Z)
  --json       one JSON object per line for each finding, then {"summary": {...}}

Exit status: 0 every checked object matches; 1 differences found; 2 usage or configuration error (also
when the bucket cannot be reached); 3 no differences, but some objects could not be checked.
Without S3_BUCKET the bucket is the embedded S3 server, which runs only inside the service.`,
  async run(args) {
    const parsed = parseArgs(args, { deep: { type: 'boolean' }, limit: { type: 'string' }, since: { type: 'string' }, json: { type: 'boolean' } });
    expectPositionals(parsed, 0, 0, '');
    const limit = intOption(parsed, 'limit', 1, Number.MAX_SAFE_INTEGER);
    const since = parseSince(stringOption(parsed, 'since'));
    const deep = parsed.options['deep'] === true;
    const json = parsed.options['json'] === true;
    const config = loadConfig();
    const file = ledgerFile(config);
    if (!existsSync(file)) throw new SpoolError('config_invalid', `no ledger at ${file}; is SPOOL_DIR right?`);

    // Loaded here: the S3 SDK costs ~150 ms of startup that the other commands need not pay.
    const [{ createS3Client }, { checkObject }] = await Promise.all([import('../s3/client.js'), import('../s3/verify-object.js')]);
    const client = createS3Client(config.s3, CONCURRENCY);
    const db = openLedger(file, { readonly: true });
    try {
      await checkBucket(client, config);
      const print = (line: string): void => {
        process.stdout.write(`${line}\n`);
      };
      const summary = await verifyRows(uploadedRows(db, { since, limit }), (row) => checkObject(row, { client, bucket: config.s3.bucket, deep, stallTimeoutMs: STALL_TIMEOUT_MS }), {
        concurrency: CONCURRENCY,
        onFinding: (f) => print(json ? JSON.stringify(f) : describe(f, config.s3.bucket)),
      });
      print(json ? JSON.stringify({ summary: { ...summary, deep, bucket: config.s3.bucket } }) : summaryLine(summary, deep, config));
      return differences(summary) > 0 ? 1 : summary.error > 0 ? 3 : 0;
    } finally {
      db.close();
      client.destroy();
    }
  },
};

function parseSince(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const t = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`--since expects an ISO 8601 time such as 2026-05-01 or 2026-05-01T12:00:00Z, got ${JSON.stringify(raw)}`);
  return new Date(t).toISOString();
}

/** One wrong setting must not read as a bucket of missing objects: check the bucket answers first. */
async function checkBucket(client: S3Client, config: Config): Promise<void> {
  const { HeadBucketCommand } = await import('@aws-sdk/client-s3');
  try {
    await client.send(new HeadBucketCommand({ Bucket: config.s3.bucket }), { abortSignal: AbortSignal.timeout(STALL_TIMEOUT_MS) });
  } catch (err) {
    const where = config.localS3
      ? `the embedded S3 server (no S3_BUCKET set) at ${config.s3.endpoint ?? '?'}: it runs only while the service runs`
      : `S3_BUCKET=${config.s3.bucket}${config.s3.endpoint ? ` at S3_ENDPOINT=${config.s3.endpoint}` : ''}`;
    throw new SpoolError('config_invalid', `cannot reach ${where}: ${(err as Error).name}: ${(err as Error).message}`, { cause: err });
  }
}

function describe(f: Finding, bucket: string): string {
  const at = `${f.id}  s3://${bucket}/${f.s3_key}`;
  switch (f.kind) {
    case 'missing': return `missing            ${at}`;
    case 'size_mismatch': return `size_mismatch      ${at}  ledger ${f.expected_bytes} bytes, object ${f.actual_bytes}`;
    case 'checksum_mismatch': return `checksum_mismatch  ${at}  ledger sha256 ${f.expected_sha256}, object (${f.from}) ${f.actual_sha256}`;
    case 'checksum_missing': return `checksum_missing   ${at}  no sha256 metadata or SHA-256 checksum (try --deep)`;
    case 'error': return `error              ${at}  ${f.message}`;
  }
}

function summaryLine(s: VerifySummary, deep: boolean, config: Config): string {
  const verdict = differences(s) > 0 ? 'DIFFERENCES FOUND' : s.error > 0 ? 'INCOMPLETE' : 'clean';
  return `verified ${s.checked} uploaded images against s3://${config.s3.bucket} (${deep ? 'deep: bodies hashed' : 'HEAD: size, sha256 metadata, checksum'}): ` +
    `${s.ok} ok, ${s.missing} missing, ${s.size_mismatch} size mismatches, ${s.checksum_mismatch} checksum mismatches, ` +
    `${s.checksum_missing} without checksum, ${s.error} errors: ${verdict}`;
}
