import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3Settings } from '../config.js';

/**
 * One client for uploads. SDK retries are off: a throttled body is a one-shot stream the SDK cannot
 * replay, so the uploader retries with a fresh file stream and its own schedule kept in the ledger.
 * Checksums are sent only when we supply them (the precomputed SHA-256): the SDK's default CRC32 with
 * aws-chunked framing is stored verbatim, framing included, by some S3-compatible servers.
 */
export function createS3Client(settings: S3Settings, maxSockets: number): S3Client {
  const agentOptions = { keepAlive: true, maxSockets };
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: settings.credentials,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 10_000,
      // No socket idle timeout: a throttled body may legitimately pause. The uploader's rate-aware
      // watchdog decides what a stall is.
      requestTimeout: 0,
      httpAgent: new Agent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    }),
  });
}
