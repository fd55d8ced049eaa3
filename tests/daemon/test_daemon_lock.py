"""One daemon per data directory and one process per serial port: locks taken before anything is opened."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_harness import prepare_daemon, running

from kkt_adapter.daemon.lock import AlreadyRunning, hold_pid_lock, release_pid_lock
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.kkt.errors import PortGone
from kkt_adapter.kkt.link import SerialLink


def test_the_pid_file_holds_the_lock_and_the_pid(tmp_path: Path) -> None:
    """The holder's PID is in the file; a second taker fails at once naming it; release empties the file."""
    path = tmp_path / "data" / "kkt-adapter.pid"
    fd = hold_pid_lock(path)
    try:
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(AlreadyRunning, match=f"PID {os.getpid()}"):
            hold_pid_lock(path)
    finally:
        release_pid_lock(fd)
    assert path.read_text() == ""
    release_pid_lock(hold_pid_lock(path))  # free again


def test_a_second_daemon_on_the_same_config_exits_at_once_naming_the_first(tmp_path: Path) -> None:
    """`kkt-adapter run` twice: the second exits 3 within seconds with one line naming the first's PID,
    before it opened the device's port or the buffer; the first empties its PID file when stopped."""
    emulator_dir = tmp_path / "emu"
    emulator_dir.mkdir()
    with Emulator(emulator_dir / "kkt1.pty", emulator_dir / "kkt1.json") as emu:
        daemon = prepare_daemon(tmp_path / "d")
        with daemon.config_path.open("a", encoding="utf-8") as config:
            config.write(f'\n[[devices]]\nid = "kkt1"\nport = "{emu.link_path}"\n')
        with running(daemon):
            started = time.monotonic()
            second = subprocess.run(
                [sys.executable, "-m", "kkt_adapter", "run", "--config", str(daemon.config_path)],
                cwd=daemon.workdir,
                env=daemon.env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 3
            assert time.monotonic() - started < 15
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert f"PID {daemon.pid}" in lines[0]
            assert "connected" not in second.stdout + second.stderr
            assert (daemon.workdir / "data" / "kkt-adapter.pid").read_text().strip() == str(daemon.pid)
        assert daemon.stop() == 0
        assert (daemon.workdir / "data" / "kkt-adapter.pid").read_text() == ""  # released on SIGTERM


def test_a_serial_port_is_opened_by_one_process_at_a_time(tmp_path: Path) -> None:
    """A second open of a port another descriptor holds fails (PortGone naming the lock), not shares it."""
    with Emulator(tmp_path / "kkt1.pty", tmp_path / "kkt1.json") as emu:
        first, second = SerialLink(str(emu.link_path)), SerialLink(str(emu.link_path))
        first.open()
        try:
            with pytest.raises(PortGone, match="lock"):
                second.open()
        finally:
            first.close()
        second.open()
        second.close()
