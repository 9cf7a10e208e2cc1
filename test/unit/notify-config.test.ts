import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

const SECRET = 'a-secret-of-24-characters';

describe('NOTIFY_* configuration', () => {
  it('is off without NOTIFY_URL', () => {
    expect(loadConfig({}).notify).toBeNull();
    // A secret alone is accepted (and checked), but sends nothing.
    expect(loadConfig({ NOTIFY_SECRET: SECRET }).notify).toBeNull();
  });

  it('has the documented defaults with NOTIFY_URL and NOTIFY_SECRET', () => {
    expect(loadConfig({ NOTIFY_URL: 'https://hooks.example.com/spool?x=1', NOTIFY_SECRET: SECRET }).notify).toEqual({
      url: 'https://hooks.example.com/spool?x=1', secret: SECRET, maxAttempts: 10, retryBaseMs: 1000, retryMaxMs: 300_000,
    });
    expect(loadConfig({ NOTIFY_URL: 'http://127.0.0.1:9000', NOTIFY_SECRET: SECRET, NOTIFY_MAX_ATTEMPTS: '3', NOTIFY_RETRY_BASE_MS: '50', NOTIFY_RETRY_MAX_MS: '500' }).notify)
      .toMatchObject({ url: 'http://127.0.0.1:9000/', maxAttempts: 3, retryBaseMs: 50, retryMaxMs: 500 });
  });

  it('requires NOTIFY_SECRET when NOTIFY_URL is set, naming it', () => {
    expect(() => loadConfig({ NOTIFY_URL: 'https://hooks.example.com/' })).toThrow(/NOTIFY_SECRET is required when NOTIFY_URL is set/);
  });

  it('refuses a short NOTIFY_SECRET without showing it', () => {
    const load = (): unknown => loadConfig({ NOTIFY_URL: 'https://hooks.example.com/', NOTIFY_SECRET: 'tooshort-secret' });
    expect(load).toThrow(/invalid NOTIFY_SECRET: expected at least 16 characters, got 15/);
    expect(load).not.toThrow(/tooshort/);
    // Checked even without NOTIFY_URL, so a typo fails at startup.
    expect(() => loadConfig({ NOTIFY_SECRET: 'short' })).toThrow(/invalid NOTIFY_SECRET/);
  });

  it.each([
    ['NOTIFY_URL', 'hooks.example.com/spool'],
    ['NOTIFY_URL', 'ftp://hooks.example.com/'],
    ['NOTIFY_URL', 'file:///tmp/x'],
    ['NOTIFY_URL', 'http://'],
    ['NOTIFY_MAX_ATTEMPTS', '0'],
    ['NOTIFY_MAX_ATTEMPTS', 'ten'],
    ['NOTIFY_RETRY_BASE_MS', '-1'],
    ['NOTIFY_RETRY_MAX_MS', '1.5'],
  ])('a bad %s=%s stops startup with a message naming it', (name, value) => {
    const env = { NOTIFY_URL: 'https://hooks.example.com/', NOTIFY_SECRET: SECRET, [name]: value };
    expect(() => loadConfig(env)).toThrow(new RegExp(`invalid ${name}="${value.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`));
  });
});
