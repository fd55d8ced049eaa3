"""The real daemon (``kkt-adapter run``) under a fake systemd: a datagram socket as ``NOTIFY_SOCKET``.

READY=1 once its port answers, WATCHDOG=1 pings at ``WATCHDOG_USEC/2``, a ``STATUS=`` summary, and
STOPPING=1 on SIGTERM. "No pings once a heartbeat is stale" is checked on ``run_watchdog`` itself
(``test_ops_notify.py``): the daemon's staleness limit (``wiring.WATCHDOG_STALE_S``, 60 s) is not a
setting, so a whole-daemon test of it would take over a minute.
"""

from __future__ import annotations

import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemon_harness import Daemon, prepare_daemon, probe_live

WATCHDOG_USEC = "400000"  # pings every 0.2 s


class Listener:
    """The fake systemd end: receives the daemon's datagrams with a deadline."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path
        self.seen: list[bytes] = []

    def until(self, wanted: Callable[[bytes], bool], timeout_s: float, then: Callable[[], None] = lambda: None) -> None:
        """Receive until a datagram satisfies ``wanted`` (calling ``then`` right after it), or fail."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                message = self.sock.recv(4096)
            except TimeoutError:
                break
            self.seen.append(message)
            if wanted(message):
                then()
                return
        raise AssertionError(f"no wanted datagram within {timeout_s} s; got {self.seen!r}")


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A bound AF_UNIX datagram socket in a short /tmp path (socket paths are limited to 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sdd", dir="/tmp") as tmp:
        path = str(Path(tmp) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            yield Listener(sock, path)


@pytest.fixture
def spawned(tmp_path: Path, listener: Listener) -> Iterator[Daemon]:
    """``kkt-adapter run`` under the fake systemd, spawned but not waited for; stopped after the test."""
    daemon = prepare_daemon(tmp_path / "daemon", env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": WATCHDOG_USEC})
    daemon.spawn()
    try:
        yield daemon
    finally:
        daemon.stop()


def test_daemon_notifies_ready_once_listening_then_pings_and_status(spawned: Daemon, listener: Listener) -> None:
    """READY=1 arrives when the port already answers; then WATCHDOG=1 pings follow and a STATUS= verdict."""
    answered_at_ready: list[bool] = []
    # Probed the moment READY=1 arrives: uvicorn runs the lifespan (which starts the pings) before it binds,
    # so a READY=1 sent from the lifespan would be seen here before the port answers.
    listener.until(lambda m: m == b"READY=1", 20, then=lambda: answered_at_ready.append(probe_live(spawned.port)))
    start = len(listener.seen)
    for _ in range(3):
        listener.until(lambda m: m == b"WATCHDOG=1", 5)
    assert answered_at_ready == [True]
    assert all(m == b"WATCHDOG=1" or m.startswith(b"STATUS=") for m in listener.seen[start:])
    statuses = [m for m in listener.seen if m.startswith(b"STATUS=")]
    assert statuses, "the daemon must send a STATUS= summary"
    assert statuses[0].split(b"=", 1)[1].split(b":", 1)[0] in (b"ok", b"degraded", b"critical")


def test_daemon_says_stopping_on_sigterm_and_exits_cleanly(spawned: Daemon, listener: Listener) -> None:
    """On SIGTERM the ready, pinging daemon sends STOPPING=1, runs its shutdown to the end, and exits.

    uvicorn (>= 0.29) re-raises the captured SIGTERM after a graceful shutdown, so the exit status is
    "killed by SIGTERM", which systemd counts as a clean exit (no Restart=on-failure).
    """
    listener.until(lambda m: m == b"READY=1", 20)
    listener.until(lambda m: m == b"WATCHDOG=1", 5)
    assert spawned.process is not None
    spawned.process.send_signal(signal.SIGTERM)
    listener.until(lambda m: m == b"STOPPING=1", 15)
    assert spawned.process.wait(timeout=15) in (0, -signal.SIGTERM)
    assert "daemon stopped" in spawned.log_text(), "the lifespan shutdown must run to its end"
