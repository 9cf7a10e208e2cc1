#!/usr/bin/python3
"""A FUSE filesystem that forgets what was not synced: power cuts for tests (issue 21).

    /usr/bin/python3 powerloss_fs.py DISK MOUNTPOINT [SYNC_DELAY_MS]   (Debian: python3-fusepy, fuse; root, /dev/fuse)

DISK/durable is what the disk holds: only synced state. Every operation on MOUNTPOINT works on DISK/live,
a working copy rebuilt from durable/ at each mount (the volatile state: think page cache). DISK/inodes holds
durable inodes by live inode number: hard links to durable files, and durable files or directories that
have no durable name yet. The rules:
  - a file's data and size become durable on fsync or fdatasync of any descriptor of the file (the writes
    made before the call: one racing a slow fsync is not covered);
  - a directory's entries (create, rename, unlink, link, symlink, mkdir, rmdir) become durable when that
    directory is fsynced: its durable entries become its live entries, nothing else changes;
  - a name made durable for a file whose data was never synced comes back empty (as on ext4);
  - `cut` discards everything else; then every operation fails with EIO until the next mount.
A directory renamed into another parent moves when its new parent is synced (it cannot be in two places).
SYNC_DELAY_MS makes every fsync wait that long before it makes anything durable, as a slow disk does; a cut
meanwhile fails it. It widens the window in which an acknowledgement sent before its sync would be lost.

Commands on stdin, one a line, each answered with one line on stdout:
  cut [clean|torn|reorder] [SEED]   clean: only synced state survives; torn: also a random prefix of the last
                                    unsynced write of each open file; reorder: also a random half of the
                                    unsynced 64 KiB chunks of open files and a random quarter of the
                                    directories' unsynced entries (a disk that wrote back early, out of order)
  arm N [MODE] [SEED] [SUFFIX]      cut (as above) when the Nth fsync from now (of a path ending in SUFFIX)
                                    is about to make anything durable: that fsync fails. The moment comes
                                    from the program's own pace, not from a client's view of it
  stats                             counters, as JSON (cut: the cut's mode once it happened)
Prints "ready" once mounted; unmounts itself when stdin closes.
"""
import errno
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import threading
import time

from fusepy import FUSE, FuseOSError, Operations

CHUNK = 64 * 1024
WHOLE = 1 << 62
# The kernel passes offsets with every write, and the live file sits on a disk that may refuse unaligned
# O_DIRECT buffers: neither flag reaches it.
OPEN_FLAGS_DROPPED = os.O_DIRECT | os.O_APPEND


class Dirty:
    """Byte ranges written since the last sync, per live inode, in the order they were written."""

    def __init__(self):
        self.mutex = threading.Lock()
        self.ranges = {}

    def add(self, ino, start, end):
        with self.mutex:
            rs = self.ranges.setdefault(ino, [])
            if rs and rs[-1][1] == start:
                rs[-1][1] = end  # a sequential write extends the last range
            else:
                rs.append([start, end])
            if len(rs) > 8192:
                self.ranges[ino] = merged(rs)

    def take(self, ino):
        with self.mutex:
            return self.ranges.pop(ino, [])

    def snapshot(self):
        with self.mutex:
            return {ino: list(rs) for ino, rs in self.ranges.items()}


def merged(ranges):
    out = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return out


def copy_range(src, dst, start, end):
    while start < end:
        n = os.copy_file_range(src, dst, end - start, start, start)
        if n == 0:
            break
        start += n


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


class PowerLossFS(Operations):
    flag_nullpath_ok = True  # open files that were unlinked are reached by handle, without a path
    use_ns = True

    def __init__(self, disk, sync_delay_ms=0):
        self.sync_delay = sync_delay_ms / 1000
        self.durable, self.live, self.inodes = (os.path.join(disk, d) for d in ('durable', 'live', 'inodes'))
        self.mutex = threading.RLock()  # held by everything that changes durable state, and by the cut
        self.dirty = Dirty()
        self.fh_ino = {}
        self.fd_lock = threading.Lock()  # a cut reads open files: their descriptors must not close meanwhile
        self.dirs = {}  # live directory inode -> its durable directory (under durable/, or unnamed in inodes/)
        self.cut_mode = None
        self.cut_lock = threading.Lock()
        self.armed = None  # [fsyncs left, mode, seed, path suffix]: the cut that `arm` set up
        self.counts = {'fsync': 0, 'fsyncdir': 0, 'synced_bytes': 0, 'mount_files': 0, 'mount_bytes': 0, 'cut_at_ms': None}
        self._mount()

    # ---- mount: the live copy starts as what the disk holds ----
    def _mount(self):
        os.makedirs(self.durable, exist_ok=True)
        for d in (self.live, self.inodes):
            shutil.rmtree(d, ignore_errors=True)
            os.mkdir(d)
        self.dirs[os.lstat(self.live).st_ino] = self.durable
        first_name = {}  # durable inode -> live path, so hard links stay one inode
        for root, dirnames, filenames in os.walk(self.durable):
            lroot = os.path.normpath(os.path.join(self.live, os.path.relpath(root, self.durable)))
            for name in dirnames + filenames:
                src, dst = os.path.join(root, name), os.path.join(lroot, name)
                st = os.lstat(src)
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(dst, stat.S_IMODE(st.st_mode))
                    self.dirs[os.lstat(dst).st_ino] = src
                elif stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(src), dst)
                elif st.st_ino in first_name:
                    os.link(first_name[st.st_ino], dst)
                elif stat.S_ISREG(st.st_mode):
                    shutil.copyfile(src, dst)
                    os.chmod(dst, stat.S_IMODE(st.st_mode))
                    first_name[st.st_ino] = dst
                    os.link(src, self._inode(os.lstat(dst).st_ino))
                    self.counts['mount_files'] += 1
                    self.counts['mount_bytes'] += st.st_size
                else:
                    os.mknod(dst, st.st_mode, st.st_rdev)

    def _live(self, path):
        return self.live + path

    def _inode(self, ino):
        return os.path.join(self.inodes, str(ino))

    def _born(self, ino):
        """A new live inode may reuse the number of a deleted one: nothing durable belongs to it yet."""
        with self.mutex:
            self.dirs.pop(ino, None)
            self.dirty.take(ino)
            remove(self._inode(ino))

    def __call__(self, op, *args):
        if self.cut_mode is not None and op not in ('release', 'releasedir', 'destroy'):
            raise FuseOSError(errno.EIO)
        if not hasattr(self, op):
            raise FuseOSError(errno.EFAULT)
        return getattr(self, op)(*args)

    def init(self, path):
        print('ready', flush=True)

    # ---- the passthrough ----
    def getattr(self, path, fi=None):
        st = os.fstat(fi.fh) if fi is not None else os.lstat(self._live(path))
        attrs = {k: getattr(st, k) for k in ('st_mode', 'st_ino', 'st_nlink', 'st_uid', 'st_gid', 'st_size',
                                             'st_blocks', 'st_blksize', 'st_rdev')}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        return attrs

    def access(self, path, mode):
        if not os.access(self._live(path), mode):
            raise FuseOSError(errno.EACCES)

    def chmod(self, path, mode):
        os.chmod(self._live(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._live(path), uid, gid, follow_symlinks=False)

    def utimens(self, path, times=None):
        os.utime(self._live(path), ns=times, follow_symlinks=False)

    def readlink(self, path):
        return os.readlink(self._live(path))

    def readdir(self, path, fh):
        return ['.', '..'] + (os.listdir(self._live(path)) if path is not None else [])

    def statfs(self, path):
        sv = os.statvfs(self._live(path))
        return {k: getattr(sv, k) for k in ('f_bavail', 'f_bfree', 'f_blocks', 'f_bsize', 'f_favail', 'f_ffree',
                                            'f_files', 'f_flag', 'f_frsize', 'f_namemax')}

    def mknod(self, path, mode, dev):
        os.mknod(self._live(path), mode, dev)
        self._born(os.lstat(self._live(path)).st_ino)

    def mkdir(self, path, mode):
        os.mkdir(self._live(path), mode)
        self._born(os.lstat(self._live(path)).st_ino)

    def rmdir(self, path):
        ino = os.lstat(self._live(path)).st_ino
        os.rmdir(self._live(path))
        with self.mutex:
            self.dirs.pop(ino, None)

    def unlink(self, path):
        os.unlink(self._live(path))

    def symlink(self, target, source):
        os.symlink(source, self._live(target))

    def link(self, target, source):
        os.link(self._live(source), self._live(target))

    def rename(self, old, new):
        os.rename(self._live(old), self._live(new))

    def truncate(self, path, length, fi=None):
        if fi is not None:
            os.ftruncate(fi.fh, length)
            ino = self.fh_ino[fi.fh]
        else:
            os.truncate(self._live(path), length)
            ino = os.lstat(self._live(path)).st_ino
        self.dirty.add(ino, 0, WHOLE)  # the next sync copies the whole file

    def open(self, path, fi):
        self._opened(fi, os.open(self._live(path), fi.flags & ~OPEN_FLAGS_DROPPED))

    def create(self, path, mode, fi):
        fresh = not os.path.lexists(self._live(path))
        fd = os.open(self._live(path), (fi.flags & ~OPEN_FLAGS_DROPPED) | os.O_CREAT, mode)
        if fresh:
            self._born(os.fstat(fd).st_ino)
        self._opened(fi, fd)

    def _opened(self, fi, fd):
        ino = os.fstat(fd).st_ino
        self.fh_ino[fd] = ino
        if fi.flags & os.O_TRUNC:
            self.dirty.add(ino, 0, WHOLE)
        fi.fh = fd

    def read(self, path, size, offset, fi):
        return os.pread(fi.fh, size, offset)

    def write(self, path, data, offset, fi):
        n = os.pwrite(fi.fh, data, offset)
        self.dirty.add(self.fh_ino[fi.fh], offset, offset + n)
        return n

    def flush(self, path, fi):
        return 0

    def release(self, path, fi):
        with self.fd_lock:
            self.fh_ino.pop(fi.fh, None)
            os.close(fi.fh)

    # ---- durability ----
    def fsync(self, path, datasync, fi):
        # What was written before the call, at its size then: a write made while a (slow) fsync runs is not covered.
        ino = self.fh_ino[fi.fh]
        ranges, size = self.dirty.take(ino), os.fstat(fi.fh).st_size
        self._sync_point(path)
        with self.mutex:
            if self.cut_mode is not None:
                raise FuseOSError(errno.EIO)
            self.counts['fsync'] += 1
            self._sync_data(fi.fh, ino, ranges, size)

    def _sync_point(self, path):
        """Where a sync waits for the (slow) disk, and where an armed cut strikes: this sync then fails."""
        time.sleep(self.sync_delay)
        armed = self.armed
        if armed is not None and (path or '').endswith(armed[3]):
            with self.cut_lock:
                armed[0] -= 1
                fire = armed[0] == 0
            if fire:
                self.cut(armed[1], armed[2])

    def _sync_data(self, fd, ino, ranges, size=None):
        """Copies `ranges` of the live file open as `fd` to its durable inode, created on its first sync."""
        src = os.open('/proc/self/fd/%d' % fd, os.O_RDONLY)  # `fd` may be write-only
        try:
            st = os.fstat(src)
            dst = os.open(self._inode(ino), os.O_WRONLY | os.O_CREAT, stat.S_IMODE(st.st_mode))
            try:
                for start, end in ranges:
                    copy_range(src, dst, start, min(end, st.st_size))
                    self.counts['synced_bytes'] += max(0, min(end, st.st_size) - start)
                os.ftruncate(dst, st.st_size if size is None else min(size, st.st_size))
            finally:
                os.close(dst)
        finally:
            os.close(src)

    def fsyncdir(self, path, datasync, fh):
        self._sync_point(path)
        with self.mutex:
            if self.cut_mode is not None:
                raise FuseOSError(errno.EIO)
            self.counts['fsyncdir'] += 1
            if path is not None:  # a removed directory has no entries left to sync
                self._sync_dir(self._live(path))

    def _sync_dir(self, ldir):
        """The durable entries of `ldir` become its live entries."""
        ino = os.lstat(ldir).st_ino
        ddir = self.dirs.get(ino)
        if ddir is None or not os.path.isdir(ddir):
            ddir = self._inode(ino)  # its own entries are durable, its name is not (yet)
            remove(ddir)
            os.mkdir(ddir)
            self.dirs[ino] = ddir
        live = {}
        for name in os.listdir(ldir):
            try:
                live[name] = os.lstat(os.path.join(ldir, name))
            except FileNotFoundError:
                pass  # removed while listing
        for name in os.listdir(ddir):
            d = os.path.join(ddir, name)
            if name not in live or not self._same(live[name], os.path.join(ldir, name), d):
                self._drop(d)
        for name, st in live.items():
            d = os.path.join(ddir, name)
            if not os.path.lexists(d):
                self._place(st, os.path.join(ldir, name), d)

    def _same(self, st, lpath, d):
        dst = os.lstat(d)
        if stat.S_ISDIR(st.st_mode):
            return self.dirs.get(st.st_ino) == d
        if stat.S_ISREG(st.st_mode):
            try:
                return stat.S_ISREG(dst.st_mode) and os.lstat(self._inode(st.st_ino)).st_ino == dst.st_ino
            except FileNotFoundError:
                return False
        if stat.S_ISLNK(st.st_mode):
            return stat.S_ISLNK(dst.st_mode) and os.readlink(d) == os.readlink(lpath)
        return stat.S_IFMT(dst.st_mode) == stat.S_IFMT(st.st_mode)

    def _place(self, st, lpath, d):
        if stat.S_ISDIR(st.st_mode):
            old = self.dirs.get(st.st_ino)
            if old is not None and os.path.isdir(old):
                if d.startswith(old + '/'):
                    raise FuseOSError(errno.EIO)  # a cycle through unsynced renames: not modelled
                self._move_dir(st.st_ino, d)
            else:
                os.mkdir(d, stat.S_IMODE(st.st_mode))
                self.dirs[st.st_ino] = d
        elif stat.S_ISREG(st.st_mode):
            table = self._inode(st.st_ino)
            if not os.path.lexists(table):  # data never synced: the name comes back as an empty file
                os.close(os.open(table, os.O_WRONLY | os.O_CREAT, stat.S_IMODE(st.st_mode)))
            os.link(table, d)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(lpath), d)
        else:
            os.mknod(d, st.st_mode, st.st_rdev)

    def _drop(self, d):
        """Removes a durable entry; live directories still mapped inside it keep their durable entries, unnamed."""
        if os.path.isdir(d) and not os.path.islink(d):
            while True:
                inside = sorted((len(p), x) for x, p in self.dirs.items() if p == d or p.startswith(d + '/'))
                if not inside:
                    break
                self._move_dir(inside[0][1], self._inode(inside[0][1]))
        remove(d)

    def _move_dir(self, ino, new):
        old = self.dirs[ino]
        remove(new)
        os.rename(old, new)
        for x, p in list(self.dirs.items()):
            if p == old or p.startswith(old + '/'):
                self.dirs[x] = new + p[len(old):]

    # ---- the cut ----
    def _persist_some(self, mode, rng):
        """What a disk may have written before the power went, synced or not: torn or reordered writes."""
        open_fd = {ino: fd for fd, ino in self.fh_ino.items()}
        for ino, ranges in self.dirty.snapshot().items():
            fd = open_fd.get(ino)
            if fd is None or not os.path.lexists(self._inode(ino)):
                continue  # closed, or no durable inode that could hold the bytes
            try:
                size = os.fstat(fd).st_size
                if mode == 'torn':
                    start, end = ranges[-1]
                    keep = start + rng.randrange(0, max(1, min(end, size) - start) // 512 + 1) * 512
                    self._sync_data(fd, ino, [[start, keep]], size=max(keep, os.stat(self._inode(ino)).st_size))
                else:
                    chunks = [[c, min(c + CHUNK, end)] for start, end in merged(ranges) for c in range(start, min(end, size), CHUNK)]
                    self._sync_data(fd, ino, [c for c in chunks if rng.random() < 0.5], size=WHOLE)
            except OSError:
                pass  # the file went away meanwhile: nothing of it to keep
        if mode == 'reorder':
            for root, _, _ in os.walk(self.live):
                if rng.random() < 0.25:
                    try:
                        self._sync_dir(root)
                    except OSError:
                        pass

    def cut(self, mode='clean', seed=0):
        with self.cut_lock:
            if self.cut_mode is not None:
                return 'already cut'
            self.cut_mode = mode  # at once: an fsync still waiting for the mutex fails
            self.counts['cut_at_ms'] = time.time() * 1000
        with self.mutex, self.fd_lock:
            before = self.counts['synced_bytes']
            if mode != 'clean':
                self._persist_some(mode, random.Random(seed))
            return 'ok cut %s at=%.1f persisted_unsynced_bytes=%d' % (mode, self.counts['cut_at_ms'], self.counts['synced_bytes'] - before)


def commands(fs, mountpoint):
    for line in sys.stdin:
        words = line.split()
        try:
            if words[:1] == ['cut']:
                reply = fs.cut(words[1] if len(words) > 1 else 'clean', int(words[2]) if len(words) > 2 else 0)
            elif words[:1] == ['arm']:
                fs.armed = [int(words[1]), words[2] if len(words) > 2 else 'clean', int(words[3]) if len(words) > 3 else 0,
                            words[4] if len(words) > 4 else '']
                reply = 'armed'
            elif words[:1] == ['stats']:
                reply = json.dumps({**fs.counts, 'cut': fs.cut_mode, 'dirty_inodes': len(fs.dirty.snapshot())})
            else:
                reply = 'error unknown command: %s' % line.strip()
        except Exception as e:  # a command must answer, whatever happened
            reply = 'error %r' % e
        print(reply, flush=True)
    subprocess.run([shutil.which('fusermount') or '/usr/bin/fusermount', '-u', '-z', mountpoint], check=False)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit('usage: powerloss_fs.py DISK MOUNTPOINT [SYNC_DELAY_MS]')
    fs = PowerLossFS(os.path.abspath(sys.argv[1]), int(sys.argv[3]) if len(sys.argv) == 4 else 0)
    threading.Thread(target=commands, args=(fs, sys.argv[2]), daemon=True).start()
    # No direct_io: the kernel's page cache serves shared mmap (SQLite's -shm). hard_remove: an unlinked open
    # file is not renamed to .fuse_hidden* (which a directory sync would make durable). use_ino: SQLite keys
    # its locks by inode.
    FUSE(fs, sys.argv[2], foreground=True, raw_fi=True, hard_remove=True, use_ino=True, big_writes=True,
         max_write=131072, fsname='powerloss', subtype='powerloss')


if __name__ == '__main__':
    main()
