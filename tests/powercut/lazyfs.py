"""A passthrough FUSE file system that forgets what was not synced when the power is "cut" (the LazyFS model).

Ramos et al., "When Amnesia Strikes: Understanding and Reproducing Data Loss Bugs with Fault Injection"
(VLDB 2024): reads and writes pass through to a lower directory, but a file's written bytes stay in this
process's memory until an ``fsync``/``fdatasync`` of that file; namespace changes (create, rename, unlink,
mkdir, rmdir) are applied below at once but undone at a cut unless a later ``fsync`` of a directory
committed them (ordered, like a journal: a directory fsync commits every earlier namespace change too).
A cut drops every unsynced byte, optionally writing a torn prefix (whole 512-byte sectors) of the page
written last, undoes the uncommitted namespace changes, and leaves the lower directory as the disk would
be after the power came back.

Run: ``python lazyfs.py LOWER MOUNTPOINT CONTROL_SOCKET``. The control socket (a UNIX stream socket,
one JSON command per connection) takes ``{"cmd": "stats"}``, ``{"cmd": "arm", "fsyncs": K}`` (freeze
right after the K-th fsync from now), ``{"cmd": "freeze"}`` and ``{"cmd": "cut", "tear": bool, "seed": n}``.
Frozen, every file operation blocks: a process writing at that moment never sees its call return, as at
a power cut. The caller kills its writers, then asks for the cut, then unmounts. (A killed process whose
call this process already holds is only reaped once the call is answered, so after the cut every blocked
call fails with EIO, changing nothing.)
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mfusepy as fuse

PAGE = 4096
SECTOR = 512
STASH = ".lazyfs-stash"


@dataclass
class Dirty:
    """A file's unsynced state: its logical size, the pages written since the last sync, the valid lower bytes."""

    size: int
    lower_valid: int
    pages: dict[int, bytearray] = field(default_factory=dict)


@dataclass
class Change:
    """One namespace change applied below, undone at a cut unless committed by a directory fsync."""

    kind: str  # create | mkdir | rmdir | unlink | rename
    path: str
    target: str | None = None
    stash: str | None = None

    def dirs(self) -> set[str]:
        found = {os.path.dirname(self.path)}
        if self.target is not None:
            found.add(os.path.dirname(self.target))
        return found


class LazyFS(fuse.Operations):
    """See the module docstring. Paths given by FUSE start with ``/``; ``_low`` maps them below."""

    use_ns = True

    def __init__(self, lower: Path) -> None:
        self.lower = lower
        self._mu = threading.RLock()
        self.running = threading.Event()
        self.running.set()
        self.dead = False
        self.dirty: dict[str, Dirty] = {}
        self.journal: list[Change] = []
        self.last_page: tuple[str, int] | None = None
        self.fsyncs = 0
        self.writes = 0
        self.freeze_at: int | None = None
        self.cuts_stash = 0
        (lower / STASH).mkdir(exist_ok=True)

    # --- plumbing ------------------------------------------------------------------------------------

    def _low(self, path: str) -> str:
        return os.path.join(self.lower, path.lstrip("/"))

    def _gate(self) -> None:
        """Block while frozen; after the cut, fail: the caller is a killed process the kernel waits for."""
        self.running.wait()
        if self.dead:
            raise fuse.FuseOSError(errno.EIO)

    def _stash(self, path: str) -> str:
        self.cuts_stash += 1
        name = os.path.join(self.lower, STASH, f"{self.cuts_stash}")
        os.rename(self._low(path), name)
        return name

    def _dirty(self, path: str, fh: int) -> Dirty:
        node = self.dirty.get(path)
        if node is None:
            size = os.fstat(fh).st_size
            node = self.dirty[path] = Dirty(size, size)
        return node

    def _page(self, node: Dirty, index: int, fh: int) -> bytearray:
        page = node.pages.get(index)
        if page is None:
            start = index * PAGE
            data = os.pread(fh, PAGE, start) if start < node.lower_valid else b""
            data = data[: max(0, node.lower_valid - start)]
            page = node.pages[index] = bytearray(data.ljust(PAGE, b"\0"))
        return page

    def _after_fsync(self) -> None:
        self.fsyncs += 1
        if self.freeze_at is not None and self.fsyncs >= self.freeze_at:
            self.running.clear()

    # --- attributes and directories ------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        self._gate()
        try:
            st = os.lstat(self._low(path))
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None
        attrs = {k: getattr(st, k) for k in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino")}
        attrs.update(st_atime=st.st_atime, st_mtime=st.st_mtime, st_ctime=st.st_ctime)
        with self._mu:
            node = self.dirty.get(path)
            if node is not None:
                attrs["st_size"] = node.size
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        self._gate()
        names = [n for n in os.listdir(self._low(path)) if not (path == "/" and n == STASH)]
        return [".", "..", *names]

    def access(self, path: str, amode: int) -> int:
        self._gate()
        if not os.access(self._low(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        self._gate()
        os.chmod(self._low(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        self._gate()
        os.chown(self._low(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        self._gate()
        if times is None:
            os.utime(self._low(path))
        else:
            os.utime(self._low(path), ns=times)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._low(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag")
        return {k: getattr(st, k) for k in (*keys, "f_frsize", "f_namemax")}

    def mkdir(self, path: str, mode: int) -> int:
        self._gate()
        with self._mu:
            os.mkdir(self._low(path), mode)
            self.journal.append(Change("mkdir", path))
        return 0

    def rmdir(self, path: str) -> int:
        self._gate()
        with self._mu:
            os.rmdir(self._low(path))
            self.journal.append(Change("rmdir", path))
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        self._gate()
        with self._mu:
            last = max((i for i, c in enumerate(self.journal) if path in c.dirs()), default=-1)
            for change in self.journal[: last + 1]:
                if change.stash is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(change.stash)
            del self.journal[: last + 1]
            self._after_fsync()
        return 0

    # --- files ---------------------------------------------------------------------------------------

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        self._gate()
        with self._mu:
            low = self._low(path)
            existed = os.path.exists(low)
            fh = os.open(low, os.O_RDWR | os.O_CREAT, mode)
            if not existed:
                self.journal.append(Change("create", path))
            return fh

    def open(self, path: str, flags: int) -> int:
        self._gate()
        with self._mu:
            try:
                fh = os.open(self._low(path), os.O_RDWR)
            except OSError:
                fh = os.open(self._low(path), flags & os.O_ACCMODE)
            if flags & os.O_TRUNC:
                self._truncate(path, 0, fh)
            return fh

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close() does not make data durable: only fsync does

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        self._gate()
        with self._mu:
            node = self.dirty.get(path)
            if node is None:
                return os.pread(fh, size, offset)
            end = min(offset + size, node.size)
            out = bytearray()
            pos = offset
            while pos < end:
                index, start = divmod(pos, PAGE)
                take = min(PAGE - start, end - pos)
                page = node.pages.get(index)
                if page is not None:
                    out += page[start : start + take]
                else:
                    data = os.pread(fh, take, pos) if pos < node.lower_valid else b""
                    out += data[: max(0, node.lower_valid - pos)].ljust(take, b"\0")
                pos += take
            return bytes(out)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        self._gate()
        with self._mu:
            node = self._dirty(path, fh)
            pos, view = offset, memoryview(data)
            while view:
                index, start = divmod(pos, PAGE)
                take = min(PAGE - start, len(view))
                self._page(node, index, fh)[start : start + take] = view[:take]
                self.last_page = (path, index)
                view, pos = view[take:], pos + take
            node.size = max(node.size, offset + len(data))
            self.writes += 1
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        self._gate()
        with self._mu:
            own = fh is None
            handle = os.open(self._low(path), os.O_RDWR) if own else fh
            try:
                self._truncate(path, length, handle)
            finally:
                if own:
                    os.close(handle)
        return 0

    def _truncate(self, path: str, length: int, fh: int) -> None:
        node = self._dirty(path, fh)
        if length < node.size:
            for index in [i for i in node.pages if i * PAGE >= length]:
                del node.pages[index]
            tail = node.pages.get(length // PAGE)
            if tail is not None:
                tail[length % PAGE :] = bytes(PAGE - length % PAGE)
            node.lower_valid = min(node.lower_valid, length)
        node.size = length

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self._gate()
        with self._mu:
            node = self.dirty.pop(path, None)
            if node is not None:
                os.ftruncate(fh, node.lower_valid)
                os.ftruncate(fh, node.size)
                for index, page in node.pages.items():
                    os.pwrite(fh, bytes(page[: max(0, min(PAGE, node.size - index * PAGE))]), index * PAGE)
            # The lower file need not reach the real disk: the power is cut here, not below.
            self._after_fsync()
        return 0

    def unlink(self, path: str) -> int:
        self._gate()
        with self._mu:
            self.dirty.pop(path, None)
            self.journal.append(Change("unlink", path, stash=self._stash(path)))
        return 0

    def rename(self, old: str, new: str) -> int:
        self._gate()
        with self._mu:
            stash = self._stash(new) if os.path.lexists(self._low(new)) else None
            self.dirty.pop(new, None)
            os.rename(self._low(old), self._low(new))
            if old in self.dirty:
                self.dirty[new] = self.dirty.pop(old)
            self.journal.append(Change("rename", old, new, stash))
        return 0

    # --- the cut -------------------------------------------------------------------------------------

    def cut(self, tear: bool, seed: int) -> dict[str, int]:
        """Apply the power cut to the lower directory (the caller has frozen and killed every writer)."""
        self.running.clear()
        with self._mu:
            dropped = sum(len(n.pages) for n in self.dirty.values())
            torn = 0
            if tear and self.last_page is not None and self.last_page[0] in self.dirty:
                path, index = self.last_page
                page = self.dirty[path].pages.get(index)
                if page is not None:
                    keep = random.Random(seed).randrange(1, PAGE // SECTOR) * SECTOR
                    with contextlib.suppress(OSError):
                        fd = os.open(self._low(path), os.O_WRONLY)
                        try:
                            os.pwrite(fd, bytes(page[:keep]), index * PAGE)
                        finally:
                            os.close(fd)
                        torn = keep
            self.dirty.clear()
            undone = len(self.journal)
            for change in reversed(self.journal):
                self._undo(change)
            self.journal.clear()
            shutil.rmtree(self.lower / STASH, ignore_errors=True)
            self.dead = True
            self.running.set()  # wake the blocked calls: they fail, so their killed callers can exit
            return {"dropped_pages": dropped, "undone_changes": undone, "torn_bytes": torn}

    def _undo(self, change: Change) -> None:
        low = self._low(change.path)
        with contextlib.suppress(OSError):
            if change.kind == "create":
                os.unlink(low)
            elif change.kind == "mkdir":
                shutil.rmtree(low)
            elif change.kind == "rmdir":
                os.mkdir(low)
            elif change.kind == "unlink" and change.stash is not None:
                os.rename(change.stash, low)
            elif change.kind == "rename" and change.target is not None:
                os.rename(self._low(change.target), low)
                if change.stash is not None:
                    os.rename(change.stash, self._low(change.target))

    def stats(self) -> dict[str, Any]:
        with self._mu:
            return {
                "fsyncs": self.fsyncs,
                "writes": self.writes,
                "dirty_files": len(self.dirty),
                "journal": len(self.journal),
                "frozen": not self.running.is_set(),
            }


def serve_control(fs: LazyFS, path: str) -> None:
    """Answer one JSON command per connection on the UNIX socket ``path`` (runs on its own thread)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    while True:
        conn, _ = server.accept()
        with conn:
            request = json.loads(conn.makefile("r").readline())
            command = request["cmd"]
            if command == "arm":
                with fs._mu:
                    fs.freeze_at = fs.fsyncs + int(request["fsyncs"])
                answer: dict[str, Any] = fs.stats()
            elif command == "freeze":
                fs.running.clear()
                answer = fs.stats()
            elif command == "cut":
                answer = fs.cut(bool(request.get("tear")), int(request.get("seed", 0)))
            else:
                answer = fs.stats()
            conn.sendall((json.dumps(answer) + "\n").encode())


def main(argv: list[str]) -> None:
    lower, mountpoint, control = Path(argv[0]).resolve(), argv[1], argv[2]
    fs = LazyFS(lower)
    threading.Thread(target=serve_control, args=(fs, control), daemon=True).start()
    # kernel_cache: FUSE otherwise drops a file's page cache whenever any process opens it, which throws
    # away pages of SQLite's -shm that another process has mapped and written (a real disk never does).
    fuse.FUSE(fs, mountpoint, foreground=True, nothreads=False, fsname="lazyfs", kernel_cache=True)


if __name__ == "__main__":
    main(sys.argv[1:])
