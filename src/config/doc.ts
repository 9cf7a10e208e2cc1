import { GROUPS, VARIABLES, type GroupId, type Variable, type VariableName } from './variables.js';

/**
 * docs/CONFIG.md and the README's settings table, written from the declarations by `npm run docs:config`
 * (scripts/docs-config.mjs). test/unit/config-doc.test.ts fails when either file differs from this output.
 */

export const README_BEGIN = '<!-- settings: written by `npm run docs:config` from src/config/variables.ts -->';
export const README_END = '<!-- /settings -->';

/** Longest README summary: a table cell of at most two lines. */
const SUMMARY_MAX = 130;

const INTRO = `# Configuration

<!-- Written by \`npm run docs:config\` from src/config/variables.ts: edit the declarations there, then run it.
     test/unit/config-doc.test.ts fails when this page and the code differ. -->

Every setting is an environment variable, declared once in \`src/config/variables.ts\` and read at start by
\`src/config.ts\` (the service and the CLI alike). A value is trimmed, and an empty one counts as unset. Every
variable is checked even when the rest of the configuration leaves it unused, and a start with bad values
stops with one \`config_invalid\` error naming each of them, \`invalid NAME="value": why\` (exit status 2).
Under systemd the variables live in \`/etc/image-spool/env\` ([OPERATIONS.md](OPERATIONS.md#install)).

Read by others, not by \`src/config.ts\`: \`TZ\` (the local time of \`UPLOAD_BWLIMIT\` timetables), the AWS SDK's
credential variables (\`AWS_ACCESS_KEY_ID\`, \`AWS_SECRET_ACCESS_KEY\`, \`AWS_PROFILE\`, ...), and the process
settings of \`deploy/image-spool.service\`: \`UV_THREADPOOL_SIZE=16\` (also set by \`bin/image-spool.cjs\` when
unset), \`MALLOC_ARENA_MAX=2\`, \`NODE_OPTIONS=--max-semi-space-size=4\`.
`;

type Entry = readonly [VariableName, Variable<unknown>];

function entries(): Entry[] {
  return (Object.keys(VARIABLES) as VariableName[]).map((name) => [name, VARIABLES[name]]);
}

/** A literal default in code font; a described one (`generated`, `(none)`) as written. */
function shownDefault(variable: Variable<unknown>): string {
  if (variable.default !== null && variable.shownDefault === variable.default) return `\`${variable.default}\``;
  return variable.shownDefault;
}

function line([name, variable]: Entry): string {
  return `- **\`${name}\`**: ${variable.doc} *Default* ${shownDefault(variable)}; *accepts* ${variable.parser.accepts}.`;
}

export function renderConfigDoc(): string {
  const sections = (Object.keys(GROUPS) as GroupId[]).map((group) => {
    const { title, intro } = GROUPS[group];
    const lines = entries().filter(([, v]) => v.group === group).map(line);
    return `## ${title}\n\n${intro}\n\n${lines.join('\n')}\n`;
  });
  return `${INTRO}\n${sections.join('\n')}`;
}

/** The first sentence of a variable's doc, or its own summary: one README table cell. */
function summary(name: VariableName, variable: Variable<unknown>): string {
  const text = variable.summary ?? /^.+?\.(?=\s|$)/.exec(variable.doc)?.[0] ?? variable.doc;
  if (text.length > SUMMARY_MAX) throw new Error(`the README summary of ${name} is ${text.length} characters; at most ${SUMMARY_MAX}`);
  return text;
}

export function renderReadmeSettings(): string {
  const rows = entries().filter(([, v]) => v.common).map(([name, v]) => `| \`${name}\` | ${shownDefault(v)} | ${summary(name, v)} |`);
  return [README_BEGIN, '| Variable | Default | What it does |', '|---|---|---|', ...rows, README_END].join('\n');
}

/** The README with its settings block replaced; an error when the markers are missing. */
export function withReadmeSettings(readme: string): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no settings block (${README_BEGIN} ... ${README_END})`);
  return `${readme.slice(0, begin)}${renderReadmeSettings()}${readme.slice(end + README_END.length)}`;
}
