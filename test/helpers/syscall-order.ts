/**
 * Parser and checker for an `strace -f -ttt -T -yy -s 4096` trace of the service (used by
 * test/durability/syscall-order.test.ts). It proves, per acknowledged image, the order in which the
 * kernel saw the calls that make an ack a promise:
 *
 *   fsync(<id>.part) -> rename(<id>.part, <id>.<ext>) -> fsync(images dir) -> WAL write holding the row
 *     -> fsync/fdatasync(ledger.db-wal) -> write of the "HTTP/1.1 202" response carrying <id>
 *
 * Order is the order in which strace (one single-threaded tracer for every thread of the service) saw
 * the events: a call "happens before" another when its exit stop was printed before the other's entry
 * stop. With -f and one output file, a call interrupted by another thread's event is split into
 * `<unfinished ...>` (entry) and `<... resumed>` (exit) lines, so the line order is that event order; the
 * -ttt timestamps on those lines are checked to be non-decreasing (they are the tracer's clock), so the
 * same order holds in time, and they are printed in every failure.
 */

export interface Syscall {
  /** Thread id (strace -f prints the tid of the thread that made the call). */
  tid: number;
  name: string;
  /** Arguments as printed (entry part and resumed part joined), without the trailing `) = ret <dur>`. */
  args: string;
  /** Return value, or null when strace could not see it (process killed inside the call). */
  ret: number | null;
  /** Path or socket strace printed for the first argument when it is an fd (`-y`/`-yy`), else null. */
  fdPath: string | null;
  /** Line index (0-based) of the entry and of the exit event in the trace. */
  startSeq: number;
  endSeq: number;
  /** -ttt timestamps (seconds) of entry and exit; exit = resumed line, or entry + -T duration. */
  tStart: number;
  tEnd: number;
}

export interface ParsedTrace {
  calls: Syscall[];
  /** Lines whose timestamp is earlier than the previous line's (should be none). */
  clockAnomalies: number;
  lines: number;
}

const LINE = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/;
const RESUMED = /^<\.\.\. ([a-z0-9_]+) resumed>(.*)$/;
const UNFINISHED = /^([a-z0-9_]+)\((.*) <unfinished \.\.\.>$/;
const FULL = /^([a-z0-9_]+)\((.*)$/;
/** `) = 25</path> <0.000061>`, `) = -1 ENOENT (No such file or directory) <0.000012>`, `) = ? <unavailable>` */
const TAIL = /\) = (-?\d+|\?)(?:<[^\n]*?>)?(?: [A-Z][A-Z0-9_]* \([^)]*\))?(?: <(\d+\.\d+)>| <unavailable>)?$/;
const FD_ARG = /^(\d+)<(.*?)>(?=[,)]|$)/;

function splitTail(text: string): { args: string; ret: number | null; duration: number } {
  const m = TAIL.exec(text);
  if (!m || m.index === undefined) return { args: text, ret: null, duration: 0 };
  const ret = m[1] === '?' || m[1] === undefined ? null : Number(m[1]);
  return { args: text.slice(0, m.index), ret, duration: m[2] ? Number(m[2]) : 0 };
}

export function parseStrace(trace: string): ParsedTrace {
  const calls: Syscall[] = [];
  const open = new Map<number, { name: string; args: string; startSeq: number; tStart: number }>();
  const lines = trace.split('\n');
  let clockAnomalies = 0;
  let lastTs = 0;
  lines.forEach((line, seq) => {
    const m = LINE.exec(line);
    if (!m) return;
    const tid = Number(m[1]);
    const ts = Number(m[2]);
    const rest = m[3] ?? '';
    if (ts < lastTs) clockAnomalies++;
    lastTs = ts;
    if (rest.startsWith('---') || rest.startsWith('+++')) return;
    const resumed = RESUMED.exec(rest);
    if (resumed) {
      const entry = open.get(tid);
      if (!entry) return; // its entry was before strace attached to the thread
      open.delete(tid);
      const { args, ret } = splitTail(entry.args + (resumed[2] ?? ''));
      calls.push(makeCall(tid, entry.name, args, ret, entry.startSeq, seq, entry.tStart, ts));
      return;
    }
    const unfinished = UNFINISHED.exec(rest);
    if (unfinished) {
      open.set(tid, { name: unfinished[1] ?? '', args: unfinished[2] ?? '', startSeq: seq, tStart: ts });
      return;
    }
    const full = FULL.exec(rest);
    if (!full) return;
    const { args, ret, duration } = splitTail(full[2] ?? '');
    calls.push(makeCall(tid, full[1] ?? '', args, ret, seq, seq, ts, ts + duration));
  });
  return { calls, clockAnomalies, lines: lines.length };
}

function makeCall(tid: number, name: string, args: string, ret: number | null, startSeq: number, endSeq: number, tStart: number, tEnd: number): Syscall {
  const fd = FD_ARG.exec(args);
  return { tid, name, args, ret, fdPath: fd ? (fd[2] ?? null) : null, startSeq, endSeq, tStart, tEnd };
}

/** The quoted string arguments of a call, still in strace's escaped form. */
function quotedArgs(args: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(args); m; m = re.exec(args)) out.push(m[1] ?? '');
  return out;
}

export type Rule =
  | 'ack-found'      // a 202 response carrying the id was written to a socket
  | 'file-fsync'     // fsync of <id>.part completed before the 202
  | 'rename'         // rename <id>.part -> <id>.<ext> after that fsync, before the 202
  | 'dir-fsync'      // fsync of the images directory started after the rename, completed before the 202
  | 'row-write'      // the first WAL write holding the row: after that directory fsync, before the 202
  | 'wal-fsync';     // fsync/fdatasync of ledger.db-wal started after the row's WAL write, completed before the 202

export interface Violation {
  id: string;
  rule: Rule;
  message: string;
}

export interface Chain {
  id: string;
  ack: Syscall;
  fileFsync: Syscall;
  rename: Syscall;
  dirFsync: Syscall;
  rowWrite: Syscall;
  walFsync: Syscall;
}

export interface CheckResult {
  violations: Violation[];
  /** The proven chains, for the ids without a violation. */
  chains: Chain[];
  calls: number;
  clockAnomalies: number;
}

const FSYNCS = new Set(['fsync', 'fdatasync']);
const RENAMES = new Set(['rename', 'renameat', 'renameat2']);
const SOCKET_WRITES = new Set(['write', 'writev', 'sendto', 'sendmsg']);
const FILE_WRITES = new Set(['write', 'writev', 'pwrite64', 'pwritev', 'pwritev2']);

function at(c: Syscall): string {
  return `tid ${c.tid} ${c.name} ${c.tStart.toFixed(6)}..${c.tEnd.toFixed(6)} (lines ${c.startSeq + 1}..${c.endSeq + 1})`;
}

/** `a` completed before `b` started, in the tracer's event order. */
function before(a: Syscall, b: Syscall): boolean {
  return a.endSeq < b.startSeq;
}

function firstOf(calls: readonly Syscall[], pred: (c: Syscall) => boolean): Syscall | undefined {
  return calls.find(pred); // calls are in exit order; the earliest valid one gives the longest chain room
}

/**
 * Checks every acknowledged id against the trace. `imagesDir` and `walPath` must be the real paths (as
 * strace's -y prints them). Returns one violation per id and broken rule (the first broken rule in the
 * chain: later rules are measured from the calls found so far, or reported as not checkable).
 */
export function checkSyscallOrder(trace: string, ids: readonly string[], paths: { imagesDir: string; walPath: string }): CheckResult {
  const parsed = parseStrace(trace);
  const calls = [...parsed.calls].sort((a, b) => a.endSeq - b.endSeq);
  const byStart = [...parsed.calls].sort((a, b) => a.startSeq - b.startSeq);
  const violations: Violation[] = [];
  const chains: Chain[] = [];
  const { imagesDir, walPath } = paths;
  const isSocket = (c: Syscall) => c.fdPath !== null && /^(TCP|TCPv6|socket):/.test(c.fdPath);

  for (const id of ids) {
    const fail = (rule: Rule, message: string) => violations.push({ id, rule, message });
    const ack = byStart.find((c) => SOCKET_WRITES.has(c.name) && isSocket(c) && c.args.includes('HTTP/1.1 202') && c.args.includes(id));
    if (!ack) {
      fail('ack-found', `no write of an "HTTP/1.1 202" response containing ${id} to a socket in the trace`);
      continue;
    }
    const partPath = `${imagesDir}/${id}.part`;
    const fileFsync = firstOf(calls, (c) => FSYNCS.has(c.name) && c.fdPath === partPath && c.ret === 0 && before(c, ack));
    if (!fileFsync) {
      const any = calls.filter((c) => FSYNCS.has(c.name) && c.fdPath === partPath);
      fail('file-fsync', `no fsync of ${id}.part completed before the 202 (${at(ack)}); fsyncs of it anywhere in the trace: ${any.length ? any.map(at).join(', ') : 'none'}`);
      continue;
    }
    const isRename = (c: Syscall) => {
      if (!RENAMES.has(c.name)) return false;
      const [from, to] = quotedArgs(c.args);
      return from !== undefined && to !== undefined && from.endsWith(`/${id}.part`) && new RegExp(`/${id}\\.[A-Za-z0-9]+$`).test(to);
    };
    const rename = firstOf(calls, (c) => isRename(c) && c.ret === 0 && before(fileFsync, c) && before(c, ack));
    if (!rename) {
      const any = calls.filter(isRename);
      fail('rename', `no rename of ${id}.part to its final name after its fsync (${at(fileFsync)}) and before the 202 (${at(ack)}); renames of it: ${any.length ? any.map(at).join(', ') : 'none'}`);
      continue;
    }
    const dirFsync = firstOf(calls, (c) => FSYNCS.has(c.name) && c.fdPath === imagesDir && c.ret === 0 && before(rename, c) && before(c, ack));
    if (!dirFsync) {
      fail('dir-fsync', `no fsync of ${imagesDir} started after the rename (${at(rename)}) and completed before the 202 (${at(ack)})`);
      continue;
    }
    const rowWrites = byStart.filter((c) => FILE_WRITES.has(c.name) && c.fdPath === walPath && c.args.includes(id));
    const rowWrite = rowWrites[0];
    if (!rowWrite || !before(rowWrite, ack)) {
      fail('row-write', `no WAL write containing ${id} before the 202 (${at(ack)}); first one: ${rowWrite ? at(rowWrite) : 'none in the trace'}`);
      continue;
    }
    if (!before(dirFsync, rowWrite)) {
      fail('row-write', `the row reached the WAL (${at(rowWrite)}) before the directory fsync that covers the rename completed (${at(dirFsync)})`);
      continue;
    }
    const walFsync = firstOf(calls, (c) => FSYNCS.has(c.name) && c.fdPath === walPath && c.ret === 0 && before(rowWrite, c) && before(c, ack));
    if (!walFsync) {
      const next = calls.find((c) => FSYNCS.has(c.name) && c.fdPath === walPath && before(rowWrite, c));
      fail('wal-fsync', `no fsync/fdatasync of ledger.db-wal between the row's WAL write (${at(rowWrite)}) and the 202 (${at(ack)}); next WAL fsync: ${next ? at(next) : 'none in the trace'}`);
      continue;
    }
    chains.push({ id, ack, fileFsync, rename, dirFsync, rowWrite, walFsync });
  }
  return { violations, chains, calls: parsed.calls.length, clockAnomalies: parsed.clockAnomalies };
}

/**
 * The same chain by the -ttt clock: each step's exit timestamp is no later than the next step's entry
 * timestamp (2 us allowed for the rounding of -T durations). Returns the first step out of time order.
 */
export function timeOrderBreak(chain: Chain): string | null {
  const steps: [string, Syscall][] = [
    ['fsync(part)', chain.fileFsync], ['rename', chain.rename], ['fsync(dir)', chain.dirFsync],
    ['row in WAL', chain.rowWrite], ['fsync(WAL)', chain.walFsync], ['202', chain.ack],
  ];
  for (let i = 1; i < steps.length; i++) {
    const [prevName, prev] = steps[i - 1] as [string, Syscall];
    const [name, next] = steps[i] as [string, Syscall];
    if (prev.tEnd > next.tStart + 2e-6) return `${chain.id}: ${prevName} ended at ${prev.tEnd.toFixed(6)}, after ${name} started at ${next.tStart.toFixed(6)}`;
  }
  return null;
}
