import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** Why Debian's `sqlite3` cannot be run here (`apt-get install -y sqlite3`), or null when it can. */
export function sqliteCliMissing(): string | null {
  const probe = spawnSync('sqlite3', ['-version'], { encoding: 'utf8' });
  if (probe.error) return `the sqlite3 command line shell is not installed (${probe.error.message}); install it with apt-get install -y sqlite3`;
  return probe.status === 0 ? null : `sqlite3 -version exited ${probe.status}: ${probe.stderr}`;
}

/**
 * An operator's interactive `sqlite3` session on a database, as a child process: statements go to its stdin,
 * and each `run` resolves once sqlite3 has executed them (a marker SELECT after them has printed). It waits
 * up to 5 s for a lock (`.timeout`), as an operator's shell would be told to.
 */
export class SqliteShell {
  private readonly child: ChildProcess;
  private out = '';
  private err = '';
  private marker = 0;
  readonly exited: Promise<number | string>;

  constructor(dbFile: string) {
    this.child = spawn('sqlite3', [dbFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (chunk: Buffer) => { this.out += chunk.toString(); });
    this.child.stderr?.on('data', (chunk: Buffer) => { this.err += chunk.toString(); });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    this.child.stdin?.write('.timeout 5000\n');
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Runs SQL (shell dot-commands too) and resolves with what it printed; rejects on anything on stderr. */
  async run(sql: string, timeoutMs = 10_000): Promise<string> {
    const marker = `done-${++this.marker}`;
    const from = this.out.length;
    this.child.stdin?.write(`${sql}\nSELECT '${marker}';\n`);
    const deadline = Date.now() + timeoutMs;
    while (!this.out.includes(`${marker}\n`, from)) {
      if (this.err !== '') throw new Error(`sqlite3: ${this.err}`);
      if (Date.now() > deadline) throw new Error(`sqlite3 did not finish ${JSON.stringify(sql)} in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.out.slice(from, this.out.indexOf(`${marker}\n`, from));
  }

  async close(): Promise<void> {
    this.child.stdin?.end('.quit\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
