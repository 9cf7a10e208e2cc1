/**
 * What an operator types, run inside the container: `systemctl show`, `systemctl kill`, `journalctl -u`.
 * Journal reads start after a cursor, so each test looks only at what happened since it began.
 */
import { pollUntil } from '../helpers/crash-harness.js';
import type { Container } from './container.js';
import { UNIT } from './install.js';

export async function show(c: Container, props: readonly string[]): Promise<Record<string, string>> {
  const out = await c.must(['systemctl', 'show', UNIT, ...props.flatMap((p) => ['-p', p])]);
  const values: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return values;
}

export async function mainPid(c: Container): Promise<number> {
  return Number((await show(c, ['MainPID']))['MainPID']);
}

/** `systemctl kill --kill-whom=main`: the signal reaches the service's main process only. */
export async function signalMain(c: Container, signal: string): Promise<void> {
  await c.must(['systemctl', 'kill', '--kill-whom=main', `--signal=${signal}`, UNIT]);
}

/** The cursor of the unit's newest journal entry, or null before it has any. */
export async function journalCursor(c: Container): Promise<string | null> {
  // journalctl exits 1 when nothing matches (systemd 252): before the unit's first entry, that is null.
  const out = await c.run(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager', '-n', '1', '--show-cursor']);
  return /^-- cursor: (.+)$/m.exec(out.stdout)?.[1] ?? null;
}

/** The unit's journal messages (systemd's about the unit, and the service's own lines) after `cursor`. */
export async function journalSince(c: Container, cursor: string | null): Promise<string[]> {
  return (await journal(c, cursor, 'cat')).split('\n').filter((l) => l !== '');
}

/** The same entries with the journal's fields (`_PID`, `_SYSTEMD_UNIT`, `MESSAGE`, ...). */
export async function journalEntries(c: Container, cursor: string | null): Promise<Array<Record<string, unknown>>> {
  return (await journal(c, cursor, 'json')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function journal(c: Container, cursor: string | null, output: 'cat' | 'json'): Promise<string> {
  const r = await c.run(['journalctl', '-u', UNIT, '-o', output, '--no-pager', ...(cursor === null ? [] : [`--after-cursor=${cursor}`])]);
  // Exit 1 with no output: no entries (yet). Anything else is a real failure.
  if (r.status !== 0 && (r.status !== 1 || r.stdout.trim() !== '')) throw new Error(`journalctl exited ${r.status}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Polls the journal after `cursor` until every pattern has matched a line; returns the lines. */
export async function waitForJournal(c: Container, cursor: string | null, patterns: readonly RegExp[], timeoutMs: number): Promise<string[]> {
  let lines: string[] = [];
  return pollUntil(async () => {
    lines = await journalSince(c, cursor);
    return patterns.every((p) => lines.some((l) => p.test(l))) ? lines : undefined;
  }, {
    timeoutMs, intervalMs: 250, what: `journal lines ${patterns.map(String).join(', ')}`,
    describe: () => `journal since the test began:\n${lines.slice(-30).join('\n')}`,
  });
}

/** Index of the first line matching `pattern`, -1 when none does. */
export function lineIndex(lines: readonly string[], pattern: RegExp): number {
  return lines.findIndex((l) => pattern.test(l));
}
