import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const REDIS = { BUDGET_BACKEND: 'redis', REDIS_URL: 'redis://10.0.0.5:6379', GATEWAY_COUNT: '3' };

describe('BUDGET_BACKEND, REDIS_URL, GATEWAY_COUNT', () => {
  it('defaults to the local budget', () => {
    expect(loadConfig({}).budget).toEqual({ backend: 'local' });
  });

  it('redis: needs REDIS_URL and GATEWAY_COUNT, and keeps the key per site', () => {
    expect(loadConfig(REDIS).budget).toEqual({ backend: 'redis', redisUrl: 'redis://10.0.0.5:6379', gatewayCount: 3, key: 'image-spool:budget' });
    expect(loadConfig({ ...REDIS, REDIS_URL: 'rediss://:pw@redis.site:6380/2', BUDGET_REDIS_KEY: 'site-a:budget' }).budget)
      .toMatchObject({ redisUrl: 'rediss://:pw@redis.site:6380/2', key: 'site-a:budget' });
    expect(() => loadConfig({ ...REDIS, REDIS_URL: '' })).toThrow(/REDIS_URL is required with BUDGET_BACKEND=redis/);
    expect(() => loadConfig({ ...REDIS, GATEWAY_COUNT: undefined })).toThrow(/GATEWAY_COUNT is required with BUDGET_BACKEND=redis/);
  });

  it('names the variable and the value it refuses, never a password', () => {
    expect(() => loadConfig({ BUDGET_BACKEND: 'memcached' })).toThrow('invalid BUDGET_BACKEND="memcached": expected one of local, redis');
    expect(() => loadConfig({ ...REDIS, GATEWAY_COUNT: '0' })).toThrow('invalid GATEWAY_COUNT="0": expected an integer from 1 to 1000');
    expect(() => loadConfig({ ...REDIS, GATEWAY_COUNT: 'three' })).toThrow(/invalid GATEWAY_COUNT="three"/);
    expect(() => loadConfig({ ...REDIS, REDIS_URL: 'http://10.0.0.5:6379' })).toThrow(/invalid REDIS_URL="http:\/\/10.0.0.5:6379": expected a redis:\/\/ or rediss:\/\/ URL/);
    const err = (() => {
      try {
        loadConfig({ ...REDIS, REDIS_URL: 'redis+tls://user:s3cret@host:1' });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err?.message).toMatch(/invalid REDIS_URL/);
    expect(err?.message).not.toContain('s3cret');
    expect(() => loadConfig({ ...REDIS, BUDGET_REDIS_KEY: 'a key' })).toThrow(/invalid BUDGET_REDIS_KEY="a key"/);
  });

  it('checks the redis variables even with the local budget, so a typo fails at startup', () => {
    expect(() => loadConfig({ REDIS_URL: 'localhost:6379' })).toThrow(/invalid REDIS_URL/);
    expect(() => loadConfig({ GATEWAY_COUNT: '-1' })).toThrow(/invalid GATEWAY_COUNT/);
  });

  it('refuses UPLINK_SHARE with the shared budget: each gateway would estimate the one uplink alone', () => {
    expect(() => loadConfig({ ...REDIS, UPLINK_SHARE: '50%' })).toThrow(/UPLINK_SHARE is not supported with BUDGET_BACKEND=redis/);
    expect(loadConfig({ ...REDIS, UPLINK_SHARE: 'off' }).budget.backend).toBe('redis');
  });
});
