import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * The receiving end of sd_notify, standing in for systemd: a unix datagram socket, which Node cannot
 * open, so a few lines of python3 hold it. Like systemd it reads the sender's credentials and closes
 * the file descriptor that comes with BARRIER=1 (systemd-notify waits for that close before exiting).
 */
const RECEIVER = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"bound": True}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(12))
    pid = None
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[:len(payload) - len(payload) % 4])
            for fd in fds:
                os.close(fd)
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = array.array("i", payload[:12])[0]
    print(json.dumps({"message": data.decode(), "pid": pid}), flush=True)
`;

export interface NotifyMessage {
  /** The assignments, e.g. { READY: '1', STATUS: '...' }. */
  fields: Record<string, string>;
  /** performance.now() in this process when it arrived. */
  at: number;
  /** The sender's pid from SCM_CREDENTIALS. */
  pid: number | null;
}

export interface NotifyReceiver {
  socketPath: string;
  /** Every message so far except BARRIER=1, in arrival order. */
  messages: NotifyMessage[];
  close(): void;
}

/** Why the receiver cannot run here, or null. */
export function notifyReceiverMissing(): string | null {
  const python = spawnSync('python3', ['-c', 'import socket; socket.AF_UNIX'], { stdio: 'ignore' });
  if (python.error || python.status !== 0) return 'python3 is not installed (it holds the unix datagram socket Node cannot open)';
  const notify = spawnSync('systemd-notify', ['--version'], { stdio: 'ignore' });
  if (notify.error || notify.status !== 0) return 'systemd-notify is not installed (package systemd)';
  return null;
}

export async function startNotifyReceiver(socketPath: string): Promise<NotifyReceiver> {
  const child: ChildProcess = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: NotifyMessage[] = [];
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`notify receiver exited (${code}) before binding ${socketPath}`)));
    lines.on('line', (line) => {
      const parsed = JSON.parse(line) as { bound?: boolean; message?: string; pid?: number | null };
      if (parsed.bound) {
        resolve();
        return;
      }
      const fields = Object.fromEntries((parsed.message ?? '').split('\n').filter(Boolean).map((kv) => {
        const eq = kv.indexOf('=');
        return [kv.slice(0, eq), kv.slice(eq + 1)];
      }));
      if (fields['BARRIER'] === '1') return;
      messages.push({ fields, at: performance.now(), pid: parsed.pid ?? null });
    });
  });
  return { socketPath, messages, close: () => { child.kill('SIGKILL'); } };
}
