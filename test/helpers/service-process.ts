import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onlyChildOf } from '../../bench/harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(ROOT, 'bin/image-spool.cjs');

export interface ServiceProcess {
  child: ChildProcess;
  baseUrl: string;
  port: number;
  logs: string[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * Runs the built service (`npm test` builds first) as a child process, so tests can SIGKILL it for real.
 * Resolves once it logs that it is listening. `cli` may name another build (the crash test's broken-build check).
 * `wrap` runs it under another program (`['strace', ...]`, which must exec the command it is given); `kill`
 * then signals the service itself.
 */
export async function startServiceProcess(env: Record<string, string>, timeoutMs = 20_000, cli = CLI, wrap: readonly string[] = []): Promise<ServiceProcess> {
  const argv = [...wrap, process.execPath, cli, 'serve'];
  const child = spawn(argv[0] as string, argv.slice(1), {
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start in ${timeoutMs} ms:\n${logs.join('')}`)), timeoutMs);
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      logs.push(chunk.toString());
      buffered += chunk.toString();
      const match = /"port":(\d+)[^\n]*image-spool listening/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`service exited (${code}) before listening:\n${logs.join('')}`));
    });
  });
  const servicePid = wrap.length === 0 ? null : onlyChildOf(child.pid as number);
  const kill = (signal: NodeJS.Signals): void => {
    if (servicePid === null) child.kill(signal);
    else if (child.exitCode === null && child.signalCode === null) process.kill(servicePid, signal);
  };
  return { child, baseUrl: `http://127.0.0.1:${port}`, port, logs, exited, kill };
}
