/**
 * One request every `gapMs`, whatever the answers do: the poison and corpus loads keep their pace against a
 * slow service instead of waiting for it. The requests still unanswered are kept so that stop() can wait
 * for them (each has its own deadline).
 */
export class Paced {
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;

  /** `send(n)` starts the nth request and resolves once it is answered and counted. */
  constructor(private readonly gapMs: number, private readonly send: (n: number) => Promise<void>) {}

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  start(): void {
    this.timer = setInterval(() => this.next(), this.gapMs);
  }

  /** Stops sending and waits for the answers still due. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.pending]);
  }

  private next(): void {
    const request = this.send(this.sent++);
    this.pending.add(request);
    void request.finally(() => this.pending.delete(request));
  }
}
