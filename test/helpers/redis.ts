import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './ports.js';

/** Why Debian's redis-server cannot run here, or null when it can (`.ci/run` installs it when root). */
export function redisServerMissing(): string | null {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error) return `redis-server is not installed (${(probe.error as NodeJS.ErrnoException).code ?? probe.error.message}); install it with apt-get install -y redis-server`;
  if (probe.status !== 0) return `\`redis-server --version\` exited ${probe.status}: ${probe.stderr.trim()}`;
  return null;
}

export interface TestRedis {
  port: number;
  url: string;
  /** The running server's pid (changes after restart). */
  pid(): number;
  /** SIGKILL: Redis gone at once, as a crash; resolves once the process has exited. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: Redis stops answering without closing connections (a hung server). */
  pause(): void;
  resume(): void;
  /** Starts a new server on the same port (after kill). */
  restart(): Promise<void>;
  /** Sends one command (inline protocol) and returns the raw reply. */
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}


/** One inline command over a fresh connection; rejects on a refused connection or after 1 s. */
function send(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${line} within 1 s`));
    }, 1000);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.endsWith('\r\n')) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.write(`${line}\r\n`);
  });
}

async function launch(port: number): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  // No persistence: a restart starts empty, as a crashed Redis without AOF does.
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  let running = true;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running = false; resolve(); }));
  const deadline = Date.now() + 5000;
  for (;;) {
    if (!running) throw new Error(`redis-server on port ${port} exited:\n${output}`);
    const pong = await send(port, 'PING').catch(() => '');
    if (pong.startsWith('+PONG')) return { child, exited };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within 5 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A redis-server of its own on 127.0.0.1 and a free port (tried again on another port if it was taken meanwhile). */
export async function startTestRedis(): Promise<TestRedis> {
  let port = 0;
  let server: { child: ChildProcess; exited: Promise<void> } | null = null;
  for (let attempt = 0; server === null; attempt++) {
    port = await freePort();
    try {
      server = await launch(port);
    } catch (err) {
      if (attempt >= 2) throw err;
    }
  }
  let current = server;
  let alive = true;
  const kill = async (): Promise<void> => {
    if (!alive) return;
    alive = false;
    current.child.kill('SIGCONT');
    current.child.kill('SIGKILL');
    await current.exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => current.child.pid as number,
    kill,
    pause: () => { current.child.kill('SIGSTOP'); },
    resume: () => { current.child.kill('SIGCONT'); },
    async restart() {
      await kill();
      current = await launch(port);
      alive = true;
    },
    command: (line) => send(port, line),
    stop: kill,
  };
}
