/** A mistake in how the CLI was called: the command prints its usage on stderr and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionSpec =
  | { type: 'boolean' }
  | { type: 'string' }
  /** May stand alone (then `fallback`) or take the next word when `accepts` it: `--watch`, `--watch 5`, `--watch=5`. */
  | { type: 'optional'; fallback: string; accepts: (word: string) => boolean };

export interface ParsedArgs {
  options: Record<string, string | true>;
  positionals: string[];
}

/**
 * Strict parsing with messages that name the option: an unknown flag or a missing value is a
 * UsageError, never silently taken as a positional (`tokens add --devcie x` must not make a device).
 */
export function parseArgs(args: readonly string[], spec: Readonly<Record<string, OptionSpec>>): ParsedArgs {
  const options: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i] as string;
    if (word === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const name = (eq === -1 ? word : word.slice(0, eq)).replace(/^--?/, '');
    const inline = eq === -1 ? undefined : word.slice(eq + 1);
    const option = word.startsWith('--') ? spec[name] : undefined;
    if (option === undefined) throw new UsageError(`unknown option ${eq === -1 ? word : word.slice(0, eq)}`);
    if (option.type === 'boolean') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
    } else if (inline !== undefined) {
      options[name] = inline;
    } else if (option.type === 'string') {
      const next = args[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      options[name] = next;
      i++;
    } else {
      const next = args[i + 1];
      if (next !== undefined && option.accepts(next)) {
        options[name] = next;
        i++;
      } else {
        options[name] = option.fallback;
      }
    }
  }
  return { options, positionals };
}

/** The value of a string option, or undefined when it was not given. */
export function stringOption(parsed: ParsedArgs, name: string): string | undefined {
  const v = parsed.options[name];
  return typeof v === 'string' ? v : undefined;
}

/** A whole number in [min, max], naming the option when it is not. */
export function intOption(parsed: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const raw = stringOption(parsed, name);
  if (raw === undefined) return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new UsageError(`--${name} expects a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

export function expectPositionals(parsed: ParsedArgs, min: number, max: number, what: string): string[] {
  const n = parsed.positionals.length;
  if (n < min) throw new UsageError(`missing ${what}`);
  if (n > max) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])}`);
  return parsed.positionals;
}
