import { readFile, stat } from 'node:fs/promises';

/** Other processes holding the ledger's WAL locks, as "pid 4242 (sqlite3)". */
export interface LockHolders {
  /** Holds the write lock: every write of the service fails with SQLITE_BUSY until it commits or rolls back. */
  writers: string[];
  /**
   * In a read transaction: checkpoints cannot copy frames past its snapshot (or, reading the database file
   * alone, cannot write into it at all), so the WAL grows with every write until it ends.
   */
  readers: string[];
}

// SQLite's WAL locks are POSIX byte locks on `<db>-shm` (wal.c): byte 120 is the write lock, 121 the
// checkpointer's, 122 recovery, 123-127 the five read slots.
const WRITE_LOCK = 120;
const READ_SLOTS: readonly [number, number] = [123, 127];

/**
 * Who else holds the ledger's locks, from /proc/locks (Linux). The service's own connections (its I/O thread
 * included) are this process and are left out. Null where it cannot be told (no /proc, no -shm file yet).
 */
export async function lockHolders(dbFile: string, ownPid = process.pid): Promise<LockHolders | null> {
  let locks: string;
  let shm: { dev: number; ino: number };
  try {
    [locks, shm] = await Promise.all([readFile('/proc/locks', 'utf8'), stat(`${dbFile}-shm`)]);
  } catch {
    return null;
  }
  const device = `${hex(major(shm.dev))}:${hex(minor(shm.dev))}:${shm.ino}`;
  const writers = new Set<number>();
  const readers = new Set<number>();
  for (const line of locks.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 9606 fe:00:2189105 120 120" (a blocked request starts "1: -> POSIX ...")
    const m = /^\d+:\s+POSIX\s+\S+\s+(READ|WRITE)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\d+|EOF)$/.exec(line.trim());
    if (!m || m[3] !== device) continue;
    const pid = Number(m[2]);
    if (pid === ownPid) continue;
    const start = Number(m[4]);
    const end = m[5] === 'EOF' ? Infinity : Number(m[5]);
    if (m[1] === 'WRITE' && start <= WRITE_LOCK && end >= WRITE_LOCK) writers.add(pid);
    if (start <= READ_SLOTS[1] && end >= READ_SLOTS[0]) readers.add(pid);
  }
  // A write transaction reads too: it is reported as the writer it is.
  const readOnly = [...readers].filter((pid) => !writers.has(pid));
  return { writers: await Promise.all([...writers].map(describe)), readers: await Promise.all(readOnly.map(describe)) };
}

async function describe(pid: number): Promise<string> {
  const name = await readFile(`/proc/${pid}/comm`, 'utf8').then((s) => s.trim(), () => '');
  return name === '' ? `pid ${pid}` : `pid ${pid} (${name})`;
}

// Linux's dev_t encoding (glibc's gnu_dev_major / gnu_dev_minor), as /proc/locks prints it.
function major(dev: number): number {
  return Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
}

function minor(dev: number): number {
  return Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
