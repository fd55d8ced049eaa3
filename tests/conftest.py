"""Shared fixtures: a free port, a valid receipt factory, the daemon as a subprocess on a free port, the
emulator on a real pty."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import daemon_harness
import pytest
from daemon_harness import Daemon, TomlTable, make_receipt, prepare_daemon

from kkt_adapter.emulator import Emulator

StartDaemon = Callable[..., Daemon]


@pytest.fixture
def free_port() -> int:
    """A port on 127.0.0.1 that was free when the test started."""
    return daemon_harness.free_port()


@pytest.fixture
def free_tcp_port(free_port: int) -> int:
    """The same as :func:`free_port` (the name other tests already use)."""
    return free_port


@pytest.fixture
def valid_receipt() -> Callable[..., dict[str, Any]]:
    """Factory of a valid receipt body (a JSON-able dict); keyword arguments replace top-level fields."""
    return make_receipt


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[StartDaemon]:
    """Factory: start ``kkt-adapter run`` on a free port with a tmp data dir; stopped after the test.

    ``start_daemon(settings=None, env=None, name="daemon")`` merges ``settings`` (TOML tables) into the
    generated config and adds ``env`` to a copy of the environment without ``KKT_ADAPTER_*`` variables;
    it returns once ``/health/live`` answers, as a :class:`Daemon` (``base_url``, ``pid``, ``db_path``).
    """
    started: list[Daemon] = []

    def start(settings: TomlTable | None = None, env: Mapping[str, str] | None = None, name: str = "daemon") -> Daemon:
        daemon = prepare_daemon(tmp_path / name, settings, env)
        started.append(daemon)
        daemon.start()
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def daemon(start_daemon: StartDaemon) -> Daemon:
    """A daemon with the default settings, live on a free port."""
    return start_daemon()


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    """A running emulator with a fresh state file."""
    with Emulator(tmp_path / "kkt0", tmp_path / "kkt.json") as emulator:
        yield emulator
