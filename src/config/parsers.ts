import { isIP } from 'node:net';
import path from 'node:path';
import { ANY_BYTES_POLICY, type FormatPolicy } from '../meta/format-policy.js';
import { IMAGE_FORMAT_NAMES, type ImageFormatName } from '../meta/sniff.js';
import { parseSchedule, ScheduleParseError, type Schedule } from '../throttle/schedule.js';

/**
 * Turns one variable's text (trimmed, never empty) into its value. `accepts` says in words what it takes:
 * docs/CONFIG.md prints it, so the page cannot promise what the parser refuses.
 */
export interface Parser<T> {
  readonly parse: (raw: string) => T;
  readonly accepts: string;
}

/**
 * Why one value was refused. The reader adds the variable's name: `invalid NAME="value": reason`. `shown`
 * replaces the value in that message (a URL with its password masked), or hides it (null: a secret).
 */
export class ConfigProblem extends Error {
  constructor(readonly reason: string, readonly shown?: string | null) {
    super(reason);
    this.name = 'ConfigProblem';
  }
}

export const text: Parser<string> = { parse: (raw) => raw, accepts: 'any text' };

/** A directory, made absolute against the working directory. */
export const directory: Parser<string> = { parse: (raw) => path.resolve(raw), accepts: 'a directory path' };

export function int(min: number, max: number): Parser<number> {
  return {
    accepts: `an integer from ${min} to ${max}`,
    parse: (raw) => {
      const value = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) throw new ConfigProblem(`expected an integer from ${min} to ${max}`);
      return value;
    },
  };
}

const SIZE_UNITS: Readonly<Record<string, number>> = { kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A size: plain bytes, or with a unit (KB, MB, GB, TB = 10^3.., KiB, MiB, GiB, TiB = 2^10..); "unlimited" = Infinity. */
export const bytes: Parser<number> = {
  accepts: 'a size such as `500GB`, `2TiB`, `1073741824` (KB..TB: powers of 10, KiB..TiB: of 2), or `unlimited`',
  parse: (raw) => {
    if (raw.toLowerCase() === 'unlimited') return Infinity;
    const match = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B)?$/i.exec(raw);
    const value = match ? Math.round(Number(match[1]) * (match[2] ? (SIZE_UNITS[match[2].toLowerCase()] ?? NaN) : 1)) : NaN;
    if (!Number.isSafeInteger(value) || value < 0) throw new ConfigProblem('expected a size such as 500GB, 1GiB or 1073741824, or "unlimited"');
    return value;
  },
};

/** 1048576 -> "1MiB": a power-of-two size as an operator writes it. */
function binarySize(n: number): string {
  const unit = [['TiB', 2 ** 40], ['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const;
  const found = unit.find(([, size]) => n % size === 0);
  return found ? `${n / found[1]}${found[0]}` : String(n);
}

/** A size within bounds ("unlimited" refused). */
export function bytesBetween(min: number, max: number, example: string): Parser<number> {
  return {
    accepts: `a size from ${binarySize(min)} to ${binarySize(max)}`,
    parse: (raw) => {
      const value = bytes.parse(raw);
      if (!(value >= min && value <= max)) throw new ConfigProblem(`expected a size from ${min} to ${max} bytes, such as ${example}`);
      return value;
    },
  };
}

/** A multipart part size: S3 refuses parts under 5 MiB (except the last) and uploads over 10,000 parts. */
export const partSize: Parser<number> = {
  accepts: 'a size from 5MiB to 5GiB',
  parse: (raw) => {
    const value = bytes.parse(raw);
    if (!(value >= 5 * 2 ** 20 && value <= 5 * 2 ** 30)) throw new ConfigProblem('expected a size from 5MiB to 5GiB');
    return value;
  },
};

export const bool: Parser<boolean> = {
  accepts: '`true` or `false` (or `1`/`0`, `yes`/`no`, `on`/`off`)',
  parse: (raw) => {
    const lower = raw.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
    if (['0', 'false', 'no', 'off'].includes(lower)) return false;
    throw new ConfigProblem('expected true or false', lower);
  },
};

export function oneOf<T extends string>(allowed: readonly T[]): Parser<T> {
  return {
    accepts: allowed.map((a) => `\`${a}\``).join(', '),
    parse: (raw) => {
      if (!(allowed as readonly string[]).includes(raw)) throw new ConfigProblem(`expected one of ${allowed.join(', ')}`);
      return raw as T;
    },
  };
}

/** "auto", or an integer in range. */
export function autoOrInt(min: number, max: number): Parser<number | 'auto'> {
  const count = int(min, max);
  return {
    accepts: `\`auto\` or an integer from ${min} to ${max}`,
    parse: (raw) => {
      if (raw === 'auto') return 'auto';
      if (!/^\d+$/.test(raw)) throw new ConfigProblem(`expected "auto" or an integer from ${min} to ${max}`);
      return count.parse(raw);
    },
  };
}

/**
 * A part of another setting: a percentage of it, or a count. The count is checked against that setting once
 * both are read (src/config.ts), so a bad count's message can name the limit: here it may be NaN.
 */
export type Share = { readonly percent: number } | { readonly count: number };

export function shareOf(totalName: string): Parser<Share> {
  return {
    accepts: `a percentage of \`${totalName}\` (rounded up), or a count up to it`,
    parse: (raw) => {
      const percent = /^(\d+(?:\.\d+)?)%$/.exec(raw);
      if (!percent) return { count: /^\d+$/.test(raw) ? Number(raw) : NaN };
      const p = Number(percent[1]);
      if (!(p > 0 && p <= 100)) throw new ConfigProblem('expected a percentage above 0% and up to 100%, or a count');
      return { percent: p };
    },
  };
}

/** "50%" -> 0.5; "off" -> null. */
export const percentOrOff: Parser<number | null> = {
  accepts: 'a percentage above 0% and up to 100%, or `off`',
  parse: (raw) => {
    if (raw.toLowerCase() === 'off') return null;
    const match = /^(\d+(?:\.\d+)?)%$/.exec(raw);
    const value = match ? Number(match[1]) : NaN;
    if (!(value > 0 && value <= 100)) throw new ConfigProblem('expected a percentage above 0% and up to 100%, such as "50%", or "off"');
    return value / 100;
  },
};

/** A comma-separated list of IP addresses or CIDR ranges ("10.0.0.5, 10.0.1.0/24, fd00::/8"). */
export const addresses: Parser<readonly string[]> = {
  accepts: 'comma-separated IP addresses or CIDR ranges',
  parse: (raw) => {
    const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      if (family === 0 || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits))) {
        throw new ConfigProblem(`${JSON.stringify(entry)} is not an IP address or CIDR range; expected e.g. "10.0.0.5, 10.0.1.0/24, fd00::/8"`);
      }
    }
    return entries;
  },
};

/** `any`: any bytes; else a comma-separated list of format names. */
export const imageFormats: Parser<FormatPolicy> = {
  accepts: `\`any\`, or a comma-separated list of ${IMAGE_FORMAT_NAMES.map((n) => `\`${n}\``).join(', ')}`,
  parse: (raw) => {
    if (raw.toLowerCase() === 'any') return ANY_BYTES_POLICY;
    const names = raw.toLowerCase().split(',').map((n) => n.trim());
    const known = new Set<string>(IMAGE_FORMAT_NAMES);
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length > 0 || names.length === 0) {
      const what = `${unknown.map((n) => JSON.stringify(n)).join(', ')} ${unknown.length > 1 ? 'are not formats' : 'is not a format'}`;
      throw new ConfigProblem(`${what}: expected "any" or a comma-separated list of ${IMAGE_FORMAT_NAMES.join(', ')}`);
    }
    return Object.freeze({ accepted: new Set(names as ImageFormatName[]), anyBytes: false });
  },
};

export const schedule: Parser<Schedule> = {
  accepts: 'a rate (`40Mbit`, `5MB`, `off`) or a timetable (`"08:00,40Mbit 18:00,100Mbit Sat-00:00,off"`)',
  parse: (raw) => {
    try {
      return parseSchedule(raw);
    } catch (err) {
      if (err instanceof ScheduleParseError) throw new ConfigProblem(err.message);
      throw err;
    }
  },
};

function url(protocols: readonly string[], expected: string, accepts: string): Parser<string> {
  return {
    accepts,
    parse: (raw) => {
      let parsed: URL | null = null;
      try {
        parsed = new URL(raw);
      } catch {
        // reported below
      }
      if (parsed === null || !protocols.includes(parsed.protocol) || parsed.hostname === '') {
        const shown = parsed && parsed.password ? raw.replace(`:${parsed.password}@`, ':***@') : raw;
        throw new ConfigProblem(`expected ${expected}`, shown);
      }
      return parsed.href;
    },
  };
}

export const httpUrl = url(['http:', 'https:'], 'an http:// or https:// URL such as "https://example.com/hooks/image-spool"', 'an `http://` or `https://` URL');

/** The error never shows a password. */
export const redisUrl = url(['redis:', 'rediss:'], 'a redis:// or rediss:// URL such as "redis://10.0.0.5:6379" or "rediss://:password@redis.site:6380/0"',
  'a `redis://` or `rediss://` URL (password allowed, never logged)');

/** A secret of at least `minLength` characters; the error never shows the value. */
export function secret(minLength: number): Parser<string> {
  return {
    accepts: `at least ${minLength} characters (never logged)`,
    parse: (raw) => {
      if (raw.length < minLength) throw new ConfigProblem(`expected at least ${minLength} characters, got ${raw.length} (the value is not shown)`, null);
      return raw;
    },
  };
}

/** An S3 key prefix: no leading slash, and a trailing slash added so keys read as folders. */
export const keyPrefix: Parser<string> = {
  accepts: 'a relative key prefix such as `site-a/cameras/` (a trailing `/` is added)',
  parse: (raw) => {
    if (raw === '') return ''; // the default: keys start at the bucket's root
    if (raw.startsWith('/') || raw.includes('//') || /[\x00-\x1f\\]/.test(raw)) {
      throw new ConfigProblem('expected a relative key prefix such as "site-a/cameras/"');
    }
    return raw.endsWith('/') ? raw : `${raw}/`;
  },
};

export const redisKey: Parser<string> = {
  accepts: '1-200 characters of `A-Z a-z 0-9 : . _ - { }`',
  parse: (raw) => {
    if (!/^[A-Za-z0-9:._{}-]{1,200}$/.test(raw)) throw new ConfigProblem('expected 1-200 characters of A-Z a-z 0-9 : . _ - { }');
    return raw;
  },
};

/** Where sd_notify messages go: a path, or an abstract socket name starting with @. */
export const notifySocket: Parser<string> = {
  accepts: 'an absolute socket path, or an abstract socket name starting with `@`',
  parse: (raw) => {
    if (!/^[/@]/.test(raw)) throw new ConfigProblem('expected an absolute socket path or an abstract socket name starting with @');
    return raw;
  },
};
