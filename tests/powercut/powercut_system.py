"""The power-cut system: the soak's three processes, with the daemon's data directory on :mod:`lazyfs`.

The emulated KKT (whose state file is the FN: hardware, it keeps its memory) and the OFD simulator run on
the normal file system and keep running through every cut. The daemon's buffer, its head record and its
backups live on the FUSE mount. :meth:`PowerCutSystem.cut` freezes the file system (nothing written from
then on reaches it), SIGKILLs the daemon and any backup in flight, applies the cut below, unmounts;
:meth:`PowerCutSystem.power_on` mounts again and restarts the daemon on what the "disk" kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soak_system import CONFIG, System, wait_for

LAZYFS = Path(__file__).resolve().parent / "lazyfs.py"
MOUNT_TIMEOUT_S = 15.0


@dataclass
class PowerCutSystem(System):
    """A :class:`System` whose daemon data directory is a LazyFS mount (``root/data`` over ``root/disk``)."""

    fs_proc: subprocess.Popen[bytes] | None = None
    backups: list[subprocess.Popen[bytes]] = field(default_factory=list)
    mounts: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def disk(self) -> Path:
        return self.root / "disk"

    @property
    def control_socket(self) -> Path:
        return self.root / "lazyfs.sock"

    @property
    def db_path(self) -> Path:
        return self.data / "kkt-adapter.db"

    @property
    def backup_dir(self) -> Path:
        return self.data / "backups"

    def prepare(self) -> None:
        """Tokens and config on the normal file system; the buffer and backups on the mount."""
        super().prepare()
        text = CONFIG.format(dir=self.root, api_port=self.api_port, ofd_port=self.ofd_port)
        text = text.replace(f'path = "{self.root}/kkt-adapter.db"', f'path = "{self.db_path}"')
        text = text.replace(f'backup_dir = "{self.root}/backups"', f'backup_dir = "{self.backup_dir}"')
        (self.root / "soak.toml").write_text(text, encoding="utf-8")
        self.disk.mkdir(exist_ok=True)
        self.data.mkdir(exist_ok=True)

    def mount(self) -> None:
        """Start a LazyFS process over ``disk`` at ``data`` and wait until the mount answers."""
        self.control_socket.unlink(missing_ok=True)
        with (self.root / "lazyfs.log").open("ab") as log:
            self.fs_proc = subprocess.Popen(
                [sys.executable, str(LAZYFS), str(self.disk), str(self.data), str(self.control_socket)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = self.fs_proc

        def mounted() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"lazyfs exited with {proc.returncode}; see {self.root}/lazyfs.log")
            return os.path.ismount(self.data) and self.control_socket.exists()

        wait_for(mounted, MOUNT_TIMEOUT_S, "the LazyFS mount", poll_s=0.02)
        self.mounts += 1

    def control_fs(self, **command: Any) -> dict[str, Any]:
        """One command to the mounted LazyFS (see its module docstring)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(str(self.control_socket))
            sock.sendall((json.dumps(command) + "\n").encode())
            answer: dict[str, Any] = json.loads(sock.makefile("r").readline())
            return answer

    def start_backup(self) -> None:
        """``kkt-adapter backup`` as a subprocess (it may be cut in the middle)."""
        with (self.root / "backup.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kkt_adapter", "backup", "--config", str(self.root / "soak.toml")],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.backups.append(proc)

    def cut(self, tear: bool, seed: int) -> dict[str, Any]:
        """Freeze, kill every writer on the mount, drop what was not synced, unmount; the cut's figures."""
        self.control_fs(cmd="freeze")
        for proc in [self.procs.get("daemon"), *self.backups]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        figures = self.control_fs(cmd="cut", tear=tear, seed=seed)
        for proc in [self.procs.get("daemon"), *self.backups]:
            if proc is not None:
                proc.wait(timeout=30)
        self.backups.clear()
        self.unmount()
        return figures

    def unmount(self) -> None:
        """Detach the mount and stop the LazyFS process (after a cut, or at the end)."""
        subprocess.run(["fusermount3", "-u", "-z", str(self.data)], check=False, capture_output=True)
        if self.fs_proc is not None:
            self.fs_proc.kill()
            self.fs_proc.wait(timeout=30)
            self.fs_proc = None
        wait_for(lambda: not os.path.ismount(self.data), MOUNT_TIMEOUT_S, "the unmount", poll_s=0.02)

    def power_on(self) -> float:
        """Mount what the disk kept and start the daemon on it; the seconds the daemon took to answer."""
        self.mount()
        started = time.monotonic()
        self.start_daemon()
        return time.monotonic() - started

    def shutdown(self) -> None:
        """Stop everything (best effort) and leave nothing mounted."""
        self.stop_all()
        for proc in self.backups:
            with contextlib.suppress(Exception):
                proc.kill()
        with contextlib.suppress(Exception):
            self.unmount()
