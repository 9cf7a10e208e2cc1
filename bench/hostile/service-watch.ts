/** The service under attack: its peak RSS while it lives, and, when it exits, how and why (from its log). */
import { readRss, type ServiceChild } from '../harness.js';

export class ServiceWatch {
  /** The largest VmHWM read (VmHWM is itself the peak: the last reading before an exit is the run's). */
  peakRss = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();
  private exitedAt: number | null = null;

  constructor(private readonly service: ServiceChild, sampleMs = 1000) {
    this.sample();
    this.timer = setInterval(() => this.sample(), sampleMs);
  }

  /** Null while the service runs; else "exit code 1 after 3.2 s: TypeError ...". */
  crash(): string | null {
    const how = this.service.exited();
    if (how === null) return null;
    this.exitedAt ??= performance.now();
    return `${how} after ${((this.exitedAt - this.started) / 1000).toFixed(1)} s: ${reason(this.service.logTail(80))}`;
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }

  private sample(): void {
    if (this.service.exited() !== null) {
      this.exitedAt ??= performance.now();
      return;
    }
    try {
      this.peakRss = Math.max(this.peakRss, readRss(this.service.pid).hwm);
    } catch { /* exited between the check and the read */ }
  }
}

/** The error that ended it: a thrown error's first line on stderr, else the last error-level log line. */
function reason(tail: string): string {
  const lines = tail.split('\n').map((l) => l.trim()).filter(Boolean);
  const thrown = lines.find((l) => /^(Uncaught )?[A-Z]\w*Error\b/.test(l));
  const logged = lines.filter((l) => /"level":(50|60)/.test(l)).at(-1);
  const line = thrown ?? (logged === undefined ? lines.at(-1) : messageOf(logged)) ?? 'no log line';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

function messageOf(json: string): string {
  try {
    const entry = JSON.parse(json) as { msg?: unknown; err?: { message?: unknown } };
    return [entry.msg, entry.err?.message].filter((x) => typeof x === 'string').join(': ');
  } catch {
    return json;
  }
}
