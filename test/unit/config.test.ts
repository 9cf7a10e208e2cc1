import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('has the documented defaults and runs the embedded S3 without S3_BUCKET', () => {
    const c = loadConfig({});
    expect(c.port).toBe(4000);
    expect(c.host).toBe('0.0.0.0');
    expect(c.spoolDir).toBe(path.resolve('./spool'));
    expect(c.uploadSchedule.entries.map((e) => e.rate)).toEqual([12_500_000]);
    expect(c.uploadConcurrency).toBe('auto');
    expect(c.uplinkShare).toBeNull();
    expect(c.maxImageBytes).toBe(50_000_000);
    expect(c.localS3).toEqual({ port: 4568, dataDir: path.resolve('./spool/local-s3') });
    expect(c.s3.bucket).toBe('images');
    expect(c.s3.endpoint).toBe('http://127.0.0.1:4568');
    expect(c.s3.forcePathStyle).toBe(true);
    expect(c.metricsAuth).toBe('off');
    expect(c.imageRead).toBe('credential');
    expect(c.spoolDirectIo).toBe('auto');
    expect(c.ledgerLockWaitMs).toBe(500);
    expect(c.ledgerWalMaxBytes).toBe(64 * 2 ** 20);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes IMAGE_READ=open and refuses any other value but credential, naming it', () => {
    expect(loadConfig({ IMAGE_READ: 'open' }).imageRead).toBe('open');
    expect(() => loadConfig({ IMAGE_READ: 'public' })).toThrow('invalid IMAGE_READ="public": expected one of credential, open');
  });

  it('reads IMAGE_FORMATS: every recognised image by default, a list, or any bytes', () => {
    const all = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heic', 'avif', 'jxl', 'bmp'];
    expect([...loadConfig({}).imageFormats.accepted]).toEqual(all);
    expect(loadConfig({}).imageFormats.anyBytes).toBe(false);
    expect(loadConfig({ IMAGE_FORMATS: 'JPEG, heic' }).imageFormats).toEqual({ accepted: new Set(['jpeg', 'heic']), anyBytes: false });
    expect(loadConfig({ IMAGE_FORMATS: 'any' }).imageFormats).toEqual({ accepted: new Set(all), anyBytes: true });
    expect(() => loadConfig({ IMAGE_FORMATS: 'jpeg,pdf' })).toThrow(/invalid IMAGE_FORMATS="jpeg,pdf": "pdf" is not a format: expected "any" or a comma-separated list of jpeg, png/);
  });

  it('MAX_UPLOADS_PER_ADDRESS: a share of MAX_CONCURRENT_UPLOADS (75% by default, rounded up) or a count up to it; INGEST_BODY_MAX_MS; TRUSTED_PROXIES', () => {
    expect(loadConfig({}).maxIngestsPerAddress).toBe(192);
    expect(loadConfig({}).ingestBodyMaxMs).toBe(300_000);
    expect(loadConfig({ MAX_CONCURRENT_UPLOADS: '2' }).maxIngestsPerAddress).toBe(2);
    expect(loadConfig({ MAX_CONCURRENT_UPLOADS: '100', MAX_UPLOADS_PER_ADDRESS: '10%' }).maxIngestsPerAddress).toBe(10);
    expect(loadConfig({ MAX_UPLOADS_PER_ADDRESS: '100%' }).maxIngestsPerAddress).toBe(256);
    expect(loadConfig({ MAX_UPLOADS_PER_ADDRESS: '40' }).maxIngestsPerAddress).toBe(40);
    expect(() => loadConfig({ MAX_UPLOADS_PER_ADDRESS: '300' })).toThrow(/invalid MAX_UPLOADS_PER_ADDRESS="300": .*count from 1 to MAX_CONCURRENT_UPLOADS \(256\)/);
    expect(() => loadConfig({ MAX_UPLOADS_PER_ADDRESS: '0%' })).toThrow(/invalid MAX_UPLOADS_PER_ADDRESS="0%"/);
    expect(() => loadConfig({ MAX_UPLOADS_PER_ADDRESS: 'half' })).toThrow(/invalid MAX_UPLOADS_PER_ADDRESS="half"/);
    expect(() => loadConfig({ INGEST_BODY_MAX_MS: '10' })).toThrow(/invalid INGEST_BODY_MAX_MS="10"/);
    expect(loadConfig({}).trustedProxies).toEqual([]);
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.11, 10.0.1.0/24,fd00::/8' }).trustedProxies).toEqual(['10.0.0.11', '10.0.1.0/24', 'fd00::/8']);
    expect(() => loadConfig({ TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/invalid TRUSTED_PROXIES="10.0.0.0\/33": "10.0.0.0\/33" is not an IP address or CIDR range/);
    expect(() => loadConfig({ TRUSTED_PROXIES: 'nginx' })).toThrow(/invalid TRUSTED_PROXIES="nginx"/);
  });

  it('uses the real bucket settings when S3_BUCKET is set', () => {
    const c = loadConfig({ S3_BUCKET: 'cams', S3_REGION: 'eu-west-1', S3_PREFIX: 'site-a' });
    expect(c.localS3).toBeNull();
    expect(c.s3).toMatchObject({ bucket: 'cams', region: 'eu-west-1', prefix: 'site-a/', endpoint: undefined, forcePathStyle: false, credentials: undefined });
  });

  it('defaults path-style addressing on when an endpoint is set, and lets it be turned off', () => {
    expect(loadConfig({ S3_BUCKET: 'b', S3_ENDPOINT: 'http://minio:9000' }).s3.forcePathStyle).toBe(true);
    expect(loadConfig({ S3_BUCKET: 'b', S3_ENDPOINT: 'http://minio:9000', S3_FORCE_PATH_STYLE: 'false' }).s3.forcePathStyle).toBe(false);
  });

  it('parses UPLOAD_BWLIMIT as a rate, off, or a timetable', () => {
    expect(loadConfig({ UPLOAD_BWLIMIT: '40Mbit' }).uploadSchedule.entries[0]?.rate).toBe(5_000_000);
    expect(loadConfig({ UPLOAD_BWLIMIT: 'off' }).uploadSchedule.entries[0]?.rate).toBe(Infinity);
    expect(loadConfig({ UPLOAD_BWLIMIT: '08:00,40Mbit 18:00,100Mbit' }).uploadSchedule.entries).toHaveLength(2);
    expect(() => loadConfig({ UPLOAD_BWLIMIT: '08:00,40Mbit 18:00,lots' })).toThrow(/invalid UPLOAD_BWLIMIT=.*"18:00,lots"/);
  });

  it('reads UPLOAD_CONCURRENCY as auto or a number, and UPLINK_SHARE as a percentage', () => {
    expect(loadConfig({ UPLOAD_CONCURRENCY: 'auto' }).uploadConcurrency).toBe('auto');
    expect(loadConfig({ UPLOAD_CONCURRENCY: '12' }).uploadConcurrency).toBe(12);
    expect(loadConfig({ UPLINK_SHARE: '50%' }).uplinkShare).toBe(0.5);
    expect(loadConfig({ UPLINK_SHARE: '12.5%' }).uplinkShare).toBe(0.125);
    expect(loadConfig({ UPLINK_SHARE: 'off' }).uplinkShare).toBeNull();
  });

  it('lists every bad variable in one config_invalid error, each in its own format, without showing a secret', () => {
    const env = {
      PORT: 'eighty', LOG_LEVEL: 'loud', IMAGE_FORMATS: 'jpeg,pdf', MAX_UPLOADS_PER_ADDRESS: '300', NOTIFY_URL: 'https://hooks.example.com/',
      NOTIFY_SECRET: 'tooshort-secret', BUDGET_BACKEND: 'redis', GATEWAY_COUNT: '3', UPLOAD_BWLIMIT: '100Mbit',
    };
    let error: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'config_invalid', status: 500 });
    const lines = (error as Error).message.split('\n');
    expect(lines[0]).toBe('6 settings are invalid:');
    expect(lines.slice(1).map((l) => l.trim())).toEqual([
      'invalid PORT="eighty": expected an integer from 0 to 65535',
      'invalid LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent',
      expect.stringMatching(/^invalid IMAGE_FORMATS="jpeg,pdf": "pdf" is not a format/),
      'invalid NOTIFY_SECRET: expected at least 16 characters, got 15 (the value is not shown)',
      'invalid MAX_UPLOADS_PER_ADDRESS="300": expected a percentage of MAX_CONCURRENT_UPLOADS such as "75%", or a count from 1 to MAX_CONCURRENT_UPLOADS (256)',
      expect.stringMatching(/^REDIS_URL is required with BUDGET_BACKEND=redis/),
    ]);
    expect((error as Error).message).not.toContain('tooshort');
    // One bad variable alone: its message, as before.
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/^invalid PORT="eighty": expected an integer from 0 to 65535$/);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['UPLOAD_CONCURRENCY', '0'],
    ['UPLOAD_CONCURRENCY', 'fast'],
    ['UPLINK_SHARE', '50'],
    ['UPLINK_SHARE', '0%'],
    ['UPLINK_SHARE', '150%'],
    ['MAX_IMAGE_BYTES', '1.5'],
    ['UPLOAD_BWLIMIT', '100'],
    ['S3_FORCE_PATH_STYLE', 'maybe'],
    ['S3_PREFIX', '/abs'],
    ['LOG_LEVEL', 'loud'],
    ['METRICS_AUTH', 'token'],
    ['SPOOL_DIRECT_IO', 'on'],
    ['IMAGE_FORMATS', 'jpeg,pdf'],
    ['IMAGE_FORMATS', 'jpg'],
    ['IMAGE_FORMATS', 'jpeg,,png'],
    ['LEDGER_LOCK_WAIT_MS', '-1'],
    ['LEDGER_WAL_MAX_BYTES', '64KiB'],
    ['LEDGER_WAL_MAX_BYTES', 'unlimited'],
  ])('a bad %s=%s stops startup with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`invalid ${name}="${value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`));
  });
});
