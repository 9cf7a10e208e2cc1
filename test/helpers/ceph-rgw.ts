/**
 * A single-node Ceph cluster with a RADOS Gateway on 127.0.0.1, started in a temp dir for one test file:
 * one monitor, one memstore OSD (objects live in the OSD's memory), radosgw with the beast frontend, and an
 * S3 user made by radosgw-admin. Debian's packages (`.ci/run` installs them): radosgw ceph-mon ceph-osd ceph-common.
 * 13 s to start here on an idle machine. Every daemon runs in the foreground as a child of this process, so close() (and, as
 * a last resort, this process's exit) kills all of them; the temp dir goes with them.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'ceph-authtool', 'monmaptool'] as const;

/** Why a cluster cannot be started here, or null when it can. */
export function cephMissing(): string | null {
  const missing = BINARIES.filter((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).error !== undefined);
  if (missing.length === 0) return null;
  return `${missing.join(', ')} not installed; install them with apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common`;
}

export interface CephRgw {
  endpoint: string;
  port: number;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  dir: string;
  /** Seconds from the first command to the gateway answering with the user made. */
  startSeconds: number;
  /** SIGKILL radosgw (an outage: connections refused); the cluster keeps its data. */
  stopGateway(): Promise<void>;
  /** Starts radosgw again on the same port and waits until it answers. */
  startGateway(): Promise<void>;
  /** The last lines of a daemon's log (`mon.a`, `osd.0`, `client.rgw.a`), for failure messages. */
  logTail(name: string, lines?: number): Promise<string>;
  /** Kills every daemon and removes the temp dir. */
  close(): Promise<void>;
}

interface Daemon {
  child: ChildProcess;
  exited: Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A test process that ends without close() must not leave daemons behind (see also WITH_PDEATHSIG). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** util-linux's setpriv: the daemon gets SIGKILL when this process dies, even by a signal that skips 'exit'. */
const WITH_PDEATHSIG = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).error === undefined ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];

function launch(cmd: string, args: string[]): Daemon {
  installExitHook();
  const argv = [...WITH_PDEATHSIG, cmd, '-f', ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    running.delete(child);
    resolve();
  }));
  return { child, exited };
}

async function kill(daemon: Daemon): Promise<void> {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL');
  await daemon.exited;
}

function config(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon_host = v2:127.0.0.1:${monPort}
ms_bind_msgr1 = false
ms_bind_ipv6 = false
public_addr = 127.0.0.1
keyring = ${dir}/keyring
run_dir = ${dir}/run
admin_socket = ${dir}/run/$name.asok
pid_file = ${dir}/run/$name.pid
log_file = ${dir}/log/$name.log
crash_dir = ${dir}/crash
mon_data = ${dir}/$name
osd_data = ${dir}/$name
osd_objectstore = memstore
memstore_device_bytes = ${2 * 2 ** 30}
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw_data = ${dir}/rgw
`;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status < 500;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, alive: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    const dead = alive();
    if (dead !== null) throw new Error(`${what}: ${dead}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Tried twice: the ports are free when chosen, and another process may take one before a daemon binds it. */
export async function startCephRgw(): Promise<CephRgw> {
  try {
    return await startOnce();
  } catch (err) {
    console.warn(`Ceph cluster did not start, trying once more: ${(err as Error).message.split('\n')[0]}`);
    return startOnce();
  }
}

async function startOnce(): Promise<CephRgw> {
  const started = Date.now();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spool-ceph-'));
  const daemons: Daemon[] = [];
  const [monPort, port] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'ceph.conf');
  const c = ['-c', conf];
  const exitedEarly = (list: Daemon[] = daemons): string | null => {
    const gone = list.find((d) => d.child.exitCode !== null || d.child.signalCode !== null);
    return gone ? `${gone.child.spawnargs.slice(0, 4).join(' ')} exited (${gone.child.exitCode ?? gone.child.signalCode})` : null;
  };
  let rgw: Daemon | null = null;
  const close = async (): Promise<void> => {
    if (rgw) await kill(rgw);
    for (const d of daemons.reverse()) await kill(d);
    await rm(dir, { recursive: true, force: true });
  };
  const logTail = async (name: string, lines = 40): Promise<string> => {
    const text = await readFile(path.join(dir, 'log', `${name}.log`), 'utf8').catch(() => '');
    return text.split('\n').slice(-lines).join('\n');
  };
  const startGateway = async (): Promise<void> => {
    const gateway = launch('radosgw', [...c, '-n', 'client.rgw.a']);
    rgw = gateway;
    await waitUntil(`radosgw on 127.0.0.1:${port}`, () => answers(`http://127.0.0.1:${port}/`), 120_000, () => exitedEarly([...daemons, gateway]));
  };
  try {
    await Promise.all(['run', 'log', 'crash', 'rgw', 'mon.a', 'osd.0'].map((d) => mkdir(path.join(dir, d))));
    const fsid = randomUUID();
    await writeFile(conf, config(dir, fsid, monPort, port));
    const keyring = path.join(dir, 'keyring');
    // Every key is in the keyring the monitor is made from, so no daemon needs a `ceph auth` round trip.
    await run('ceph-authtool', ['--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
    await run('ceph-authtool', [keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']);
    await run('ceph-authtool', [keyring, '--gen-key', '-n', 'osd.0', '--cap', 'mon', 'allow profile osd', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow profile osd']);
    await run('ceph-authtool', [keyring, '--gen-key', '-n', 'client.rgw.a', '--cap', 'mon', 'allow rw', '--cap', 'osd', 'allow rwx', '--cap', 'mgr', 'allow rw']);
    const monmap = path.join(dir, 'monmap');
    await run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, monmap]);
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', monmap, '--keyring', keyring]);
    daemons.push(launch('ceph-mon', [...c, '-i', 'a']));
    const osdUuid = randomUUID();
    await run('ceph', [...c, '--connect-timeout', '60', 'osd', 'new', osdUuid, '0']);
    await run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    daemons.push(launch('ceph-osd', [...c, '-i', '0']));
    await startGateway();
    const accessKeyId = `SPOOL${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(24).toString('base64url');
    await run('radosgw-admin', [...c, 'user', 'create', '--uid=image-spool', '--display-name=image-spool test',
      `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`]);
    return {
      endpoint: `http://127.0.0.1:${port}`,
      port,
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      dir,
      startSeconds: (Date.now() - started) / 1000,
      async stopGateway() {
        if (rgw) await kill(rgw);
        rgw = null;
      },
      startGateway,
      logTail,
      close,
    };
  } catch (err) {
    const tails = await Promise.all(['mon.a', 'osd.0', 'client.rgw.a'].map(async (n) => `--- ${n}.log\n${await logTail(n, 15)}`));
    await close();
    throw new Error(`could not start a Ceph cluster: ${(err as Error).message}\n${tails.join('\n')}`);
  }
}
