"""The OFD relay's system rig: the emulated KKT as a process (it outlives daemon kills, as a real KKT does),
and a daemon in ``ofd.mode = relay`` pointed at a ``kkt-adapter ofd-sim`` subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_harness import Daemon, free_port, merge, prepare_daemon, wait_until

from kkt_adapter.ofd.sim.control import RunningSim


def emulator_state(control: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{control}/state", timeout=5).json()
    return state


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    control = f"http://127.0.0.1:{free_port()}"
    link = tmp_path / "kkt1"
    argv = ["emulator", "--link", str(link), "--state", str(tmp_path / "emu.json")]
    argv += ["--control-port", control.rsplit(":", 1)[1]]
    process = subprocess.Popen([sys.executable, "-m", "kkt_adapter", *argv], stdout=subprocess.DEVNULL)
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{control}/state", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 20, "the emulator's control API", poll_s=0.05)
        yield link, control
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def daemon_for(tmp_path: Path, link: Path, sim: RunningSim, extra: dict[str, Any] | None = None) -> Daemon:
    """A daemon relaying to ``sim`` with fast retries, the emulated KKT on ``link``; ``extra`` tables merged."""
    daemon = prepare_daemon(
        tmp_path / "daemon",
        merge({
            "buffer": {"min_free_bytes": 0},
            "ofd": {"mode": "relay", "host": "127.0.0.1", "port": sim.port, "connect_timeout_s": 1.0,
                    "read_timeout_s": 2.0},
            "sync": {"fail_max": 3, "reset_timeout_s": 0.5, "backoff_base_s": 0.05, "backoff_cap_s": 0.5,
                     "lease_s": 5.0},
            "ops": {"fn_watch_interval_s": 1.0, "timezone": "Europe/Moscow"},
        }, extra or {}),
    )  # fmt: skip
    with daemon.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[[devices]]\nid = "kkt1"\nport = "{link}"\nanswer_timeout_s = 2.0\n')
    return daemon
