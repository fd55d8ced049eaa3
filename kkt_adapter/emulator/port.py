"""A pseudo-terminal published under a stable symlink: the emulator's serial port.

The emulator keeps the slave fd open for the pty's whole life, so clients can open and close the
port any number of times without the master seeing EOF/EIO. :meth:`PtyPort.close` removes the link
and closes both ends (the "port vanished" fault); :meth:`PtyPort.open` makes a new pty and re-points
the link atomically (symlink to a temp name, then rename).
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import termios
import time
import tty
from pathlib import Path

_SPEEDS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
    if hasattr(termios, f"B{rate}")
}
WRITE_TIMEOUT_S = 2.0


class PtyPort:
    """The master side of a pty whose slave is reachable at ``link_path``."""

    def __init__(self, link_path: Path) -> None:
        self.link_path = link_path
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_name = ""

    @property
    def is_open(self) -> bool:
        """True while the pty exists and the link points at it."""
        return self._master is not None

    def open(self) -> None:
        """Create a raw pty and (re-)point the symlink at its slave."""
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        self.link_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link_path.with_name(self.link_path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(self.slave_name)
        os.replace(tmp, self.link_path)

    def close(self) -> None:
        """Remove the symlink (if it still points here) and close both ends; idempotent."""
        with contextlib.suppress(OSError):
            if os.readlink(self.link_path) == self.slave_name:
                self.link_path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def baud(self) -> int | None:
        """The output speed the client set on the port (None when unknown or closed)."""
        if self._slave is None:
            return None
        try:
            attrs = termios.tcgetattr(self._slave)
        except termios.error:
            return None
        return _SPEEDS.get(attrs[5])

    def read(self, timeout_s: float) -> bytes:
        """Bytes available within ``timeout_s`` (possibly none); never blocks longer."""
        if self._master is None:
            time.sleep(timeout_s)
            return b""
        ready, _, _ = select.select([self._master], [], [], timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data: bytes) -> None:
        """Write all of ``data``; bytes that the pty cannot take within 2 s are dropped."""
        deadline = time.monotonic() + WRITE_TIMEOUT_S
        view = memoryview(data)
        while view and self._master is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            _, ready, _ = select.select([], [self._master], [], remaining)
            if not ready:
                continue
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                continue
            except OSError:
                return
