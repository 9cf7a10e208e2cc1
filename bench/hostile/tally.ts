/** Outcome counts per input kind ("202", "400", "no answer in 10 s", "ECONNRESET"), in first-seen order. */
export class Tally {
  private readonly counts = new Map<string, Map<string, number>>();

  add(kind: string, outcome: string): void {
    const outcomes = this.counts.get(kind) ?? new Map<string, number>();
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    this.counts.set(kind, outcomes);
  }

  kinds(): string[] {
    return [...this.counts.keys()];
  }

  total(kind: string): number {
    return [...(this.counts.get(kind)?.values() ?? [])].reduce((a, b) => a + b, 0);
  }

  count(kind: string, outcome: string): number {
    return this.counts.get(kind)?.get(outcome) ?? 0;
  }

  /** "202 x30, 400 x2", most frequent first. */
  format(kind: string): string {
    const outcomes = [...(this.counts.get(kind) ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]);
    return outcomes.length === 0 ? 'none sent' : outcomes.map(([o, n]) => `${o} x${n}`).join(', ');
  }
}

/** What a failed request is called in a tally: the socket error's code when it has one. */
export function errorOutcome(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
  return typeof code === 'string' ? code : err instanceof Error ? err.message.slice(0, 60) : String(err);
}
