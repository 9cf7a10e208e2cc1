/**
 * An emulated uplink for the adaptive-share test and bench: a network namespace for "the far side" joined
 * to this one by a veth pair whose egress here is shaped by `tc tbf` (netem does not exist on this
 * kernel; RTT comes from the userspace delay line in bench/far-end.ts). Needs root and iproute2.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why the emulated link cannot be built here, or null when it can. */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and tc)';
  for (const tool of ['ip', 'tc']) {
    try {
      await run(tool, ['-V']);
    } catch {
      return `needs iproute2 ("${tool}" not found)`;
    }
  }
  return null;
}

export interface EmulatedLink {
  /** Address of the far side, reachable from here through the shaped veth. */
  farAddress: string;
  /** Changes the link speed now (tc qdisc change). */
  setRateMbit(mbit: number): Promise<void>;
  /** Bytes the shaper has sent so far (wire bytes: IP and Ethernet headers included). */
  sentBytes(): Promise<number>;
  /** Starts a process inside the far namespace. */
  spawnFar(command: string, args: string[]): ChildProcess;
  close(): Promise<void>;
}

/** tbf burst: small enough that a probe train is shaped, as large as a home or office router's. */
const TBF = (mbit: number): string[] => ['tbf', 'rate', `${mbit}mbit`, 'burst', '32kb', 'latency', '50ms'];

export async function createEmulatedLink(mbit: number): Promise<EmulatedLink> {
  const id = randomBytes(3).toString('hex');
  const ns = `isp-${id}`;
  const here = `isl${id}a`;
  const far = `isl${id}b`;
  const subnet = `10.${200 + (parseInt(id.slice(0, 2), 16) % 50)}.${parseInt(id.slice(2, 4), 16)}`;
  const hereAddress = `${subnet}.1`;
  const farAddress = `${subnet}.2`;
  const steps: string[][] = [
    ['ip', 'netns', 'add', ns],
    ['ip', 'link', 'add', here, 'type', 'veth', 'peer', 'name', far],
    ['ip', 'link', 'set', far, 'netns', ns],
    ['ip', 'addr', 'add', `${hereAddress}/30`, 'dev', here],
    ['ip', '-n', ns, 'addr', 'add', `${farAddress}/30`, 'dev', far],
    ['ip', 'link', 'set', here, 'up'],
    ['ip', '-n', ns, 'link', 'set', far, 'up'],
    ['ip', '-n', ns, 'link', 'set', 'lo', 'up'],
    ['tc', 'qdisc', 'add', 'dev', here, 'root', ...TBF(mbit)],
  ];
  const close = async (): Promise<void> => {
    await run('ip', ['link', 'del', here]).catch(() => undefined);
    await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  };
  try {
    for (const [cmd, ...args] of steps) await run(cmd as string, args);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    farAddress,
    async setRateMbit(rate) {
      await run('tc', ['qdisc', 'change', 'dev', here, 'root', ...TBF(rate)]);
    },
    async sentBytes() {
      const { stdout } = await run('tc', ['-s', 'qdisc', 'show', 'dev', here]);
      const match = /Sent (\d+) bytes/.exec(stdout);
      if (!match) throw new Error(`no byte counter in tc output: ${stdout}`);
      return Number(match[1]);
    },
    spawnFar(command, args) {
      return spawn('ip', ['netns', 'exec', ns, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    },
    close,
  };
}
