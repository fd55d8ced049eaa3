"""One daemon per data directory: an exclusive lock taken before anything else is opened.

``kkt-adapter run`` takes :func:`hold_pid_lock` on ``<data dir>/kkt-adapter.pid`` (the buffer database's
directory) before it builds the app: before the buffer, the serial ports or the API port are touched.
The lock is ``flock(LOCK_EX | LOCK_NB)`` on that file, held by the open descriptor for the process's
life (the kernel drops it when the process dies, even by kill -9: no stale lock). While it holds the
lock the file contains the daemon's PID, so ``kill "$(cat data/kkt-adapter.pid)"`` stops the right
process. A second daemon on the same data directory fails at once with :class:`AlreadyRunning`,
naming the first one's PID. Each serial port is locked the same way when the driver opens it
(pyserial's ``exclusive=True``: ``flock`` on the port before any setting is changed).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kkt_adapter.errors import AdapterError

PID_FILE = "kkt-adapter.pid"


class AlreadyRunning(AdapterError):
    """Another process holds the data directory's lock; the message names its PID."""


def pid_path(database: Path) -> Path:
    """The lock/PID file of the data directory holding ``database``."""
    return database.parent / PID_FILE


def hold_pid_lock(path: Path) -> int:
    """Lock ``path`` exclusively (creating it and its directory) and write this process's PID into it.

    Returns the descriptor holding the lock: keep it open for the process's life. Raises
    :class:`AlreadyRunning` when another process holds it (at once, never waits).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip() or "unknown"
        os.close(fd)
        raise AlreadyRunning(
            f"already running on this data directory (PID {holder}, lock {path}); "
            "stop it first or use another buffer.path"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


def release_pid_lock(fd: int) -> None:
    """Empty the PID file (the daemon is gone) and drop the lock; idempotent on a closed descriptor."""
    try:
        os.ftruncate(fd, 0)
        os.close(fd)
    except OSError:
        pass
