/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), written for the tests: every
 * line must parse, every sample must belong to a family declared with HELP and TYPE before it, and every
 * histogram must be internally consistent. It throws, naming the line, on anything else.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

export type Exposition = Map<string, Family>;

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count', ''] };

export function parseExposition(text: string): Exposition {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const helps = new Map<string, string>();
  const families: Exposition = new Map();
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.trim() === '') return;
    const help = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
    if (help) {
      const [, name, doc] = help as unknown as [string, string, string];
      if (helps.has(name)) throw new Error(`second HELP for ${name} at ${where}`);
      if (doc.trim() === '') throw new Error(`empty HELP at ${where}`);
      helps.set(name, unescape(doc, where, false));
      return;
    }
    const type = new RegExp(`^# TYPE (${NAME}) (\\S+)$`).exec(line);
    if (type) {
      const [, name, kind] = type as unknown as [string, string, string];
      if (!TYPES.has(kind)) throw new Error(`unknown type at ${where}`);
      if (families.has(name)) throw new Error(`second TYPE for ${name} at ${where}`);
      const doc = helps.get(name);
      if (doc === undefined) throw new Error(`TYPE before (or without) HELP at ${where}`);
      families.set(name, { name, help: doc, type: kind as Family['type'], samples: [] });
      return;
    }
    if (line.startsWith('#')) {
      if (/^# (HELP|TYPE)\b/.test(line)) throw new Error(`malformed ${line.slice(2, 6)} at ${where}`);
      return; // a comment
    }
    const sample = parseSample(line, where);
    familyOf(families, sample.name, where).samples.push(sample);
  });
  for (const name of helps.keys()) if (!families.has(name)) throw new Error(`HELP without TYPE for ${name}`);
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The value of the one sample with this name and (a subset of) these labels; undefined when absent. */
export function sampleValue(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const matches = allSamples(exposition).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

export function allSamples(exposition: Exposition): Sample[] {
  return [...exposition.values()].flatMap((f) => f.samples);
}

function familyOf(families: Exposition, sampleName: string, where: string): Family {
  const exact = families.get(sampleName);
  if (exact && !SUFFIXES[exact.type]) return exact;
  for (const family of families.values()) {
    for (const suffix of SUFFIXES[family.type] ?? []) {
      if (sampleName === family.name + suffix) return family;
    }
  }
  throw new Error(`sample without a HELP/TYPE family at ${where}`);
}

function parseSample(line: string, where: string): Sample {
  const head = new RegExp(`^(${NAME})`).exec(line);
  if (!head) throw new Error(`bad metric name at ${where}`);
  const name = head[1] as string;
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    while (!rest.startsWith('}')) {
      const m = /^([^=]+)="((?:[^"\\]|\\.)*)"(,?)/.exec(rest);
      if (!m) throw new Error(`bad label set at ${where}`);
      const [all, key, raw, comma] = m as unknown as [string, string, string, string];
      if (!LABEL_NAME.test(key) || key.startsWith('__')) throw new Error(`bad label name ${key} at ${where}`);
      if (key in labels) throw new Error(`label ${key} twice at ${where}`);
      labels[key] = unescape(raw, where, true);
      rest = rest.slice(all.length);
      if (comma === '' && !rest.startsWith('}')) throw new Error(`missing comma between labels at ${where}`);
    }
    rest = rest.slice(1);
  }
  const tail = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!tail) throw new Error(`bad value or timestamp at ${where}`);
  return { name, labels, value: parseValue(tail[1] as string, where) };
}

/** As Prometheus reads values (Go's ParseFloat): NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(raw: string, where: string): number {
  if (/^nan$/i.test(raw)) return NaN;
  const inf = /^([+-]?)inf(inity)?$/i.exec(raw);
  if (inf) return inf[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(raw)) throw new Error(`bad value ${raw} at ${where}`);
  return Number(raw);
}

function unescape(raw: string, where: string, quotes: boolean): string {
  return raw.replace(/\\(.)/g, (_, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quotes) return '"';
    throw new Error(`bad escape \\${c} at ${where}`);
  });
}

/** Buckets cumulative and ordered by le, a +Inf bucket equal to _count, and a _sum, for each series. */
function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: Array<[number, number]>; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${family.name}: bucket without le`);
      entry.buckets.push([parseValue(le, `${family.name} le`), s.value]);
    } else if (s.name.endsWith('_count')) entry.count = s.value;
    else entry.sum = s.value;
  }
  for (const [key, { buckets, count, sum }] of series) {
    const where = `${family.name}${key}`;
    if (count === undefined || sum === undefined) throw new Error(`${where}: missing _count or _sum`);
    for (let i = 1; i < buckets.length; i++) {
      const [prevLe, prevN] = buckets[i - 1] as [number, number];
      const [le, n] = buckets[i] as [number, number];
      if (!(le > prevLe) || n < prevN) throw new Error(`${where}: buckets not ordered and cumulative at le=${le}`);
    }
    const last = buckets.at(-1);
    if (!last || last[0] !== Infinity || last[1] !== count) throw new Error(`${where}: the +Inf bucket must equal _count`);
  }
}
