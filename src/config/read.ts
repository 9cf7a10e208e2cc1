import { ConfigProblem } from './parsers.js';
import { VARIABLES, type Values, type Variable, type VariableName } from './variables.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface ReadVariables {
  readonly values: Values;
  /** Set in the environment (blank counts as unset). */
  readonly isSet: (name: VariableName) => boolean;
  /** The trimmed text of a set variable, for messages about combinations. */
  readonly raw: (name: VariableName) => string | undefined;
  /** Refused: their entry in `values` is the default, so checks that combine variables should skip them. */
  readonly failed: ReadonlySet<VariableName>;
  /** One `invalid NAME="value": why` per refused variable, in declaration order. */
  readonly problems: readonly string[];
}

/**
 * Reads and checks every declared variable, even those the rest of the configuration makes unused, so a typo
 * fails startup instead of waiting for the day it matters; and every refusal is collected, so one start
 * names every bad variable.
 */
export function readVariables(env: Env): ReadVariables {
  const values: Record<string, unknown> = {};
  const set = new Map<VariableName, string>();
  const failed = new Set<VariableName>();
  const problems: string[] = [];
  for (const name of Object.keys(VARIABLES) as VariableName[]) {
    const variable: Variable<unknown> = VARIABLES[name];
    const raw = env[name]?.trim() || undefined;
    if (raw !== undefined) set.set(name, raw);
    try {
      values[name] = read(variable, raw);
    } catch (err) {
      if (!(err instanceof ConfigProblem)) throw err;
      failed.add(name);
      problems.push(describe(name, err.shown === undefined ? raw ?? '' : err.shown, err.reason));
      values[name] = read(variable, undefined);
    }
  }
  return { values: values as Values, isSet: (name) => set.has(name), raw: (name) => set.get(name), failed, problems };
}

function read(variable: Variable<unknown>, raw: string | undefined): unknown {
  const text = raw ?? variable.default;
  return text === null ? undefined : variable.parser.parse(text);
}

/** The one format of a refused value; tests and operators' scripts match it. A null value is never shown. */
export function describe(name: string, shown: string | null, reason: string): string {
  return shown === null ? `invalid ${name}: ${reason}` : `invalid ${name}=${JSON.stringify(shown)}: ${reason}`;
}
