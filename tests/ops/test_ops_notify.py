"""sd_notify over a real AF_UNIX datagram socket: readiness after listening, watchdog pings gated on heartbeats."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from kkt_adapter.ops.notify import (
    Notifier,
    NotifyingServer,
    run_status,
    run_watchdog,
    stale_heartbeats,
    watchdog_interval_s,
)


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket standing in for systemd, and its path (short: AF_UNIX paths max 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as tmp:
        path = str(Path(tmp) / "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(5)
        yield sock, path
        sock.close()


def test_notifier_sends_each_message_as_a_datagram(notify_socket: tuple[socket.socket, str]) -> None:
    """READY=1, STATUS= (one line), WATCHDOG=1 and STOPPING=1 arrive as separate datagrams."""
    sock, path = notify_socket
    notifier = Notifier(path)
    sent = [notifier.ready(), notifier.status("ok:\n2 devices"), notifier.watchdog(), notifier.stopping()]
    assert sent == [True] * 4
    got = [sock.recv(4096).decode() for _ in range(4)]
    assert got == ["READY=1", "STATUS=ok: 2 devices", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_socket_name_is_supported() -> None:
    """A ``NOTIFY_SOCKET`` starting with ``@`` addresses the abstract namespace."""
    name = f"kkt-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier("@" + name).ready()
        assert sock.recv(100) == b"READY=1"


def test_without_notify_socket_nothing_is_sent_and_nothing_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Outside systemd (no NOTIFY_SOCKET) the notifier is disabled; a dead socket path only returns False."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert Notifier().enabled is False
    assert Notifier().ready() is False
    assert Notifier(str(tmp_path / "absent" / "notify")).ready() is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    """``WATCHDOG_USEC`` gives the ping interval (half of it); another PID's watchdog is ignored."""
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None


def test_stale_heartbeats_are_named() -> None:
    """A heartbeat older than the limit is stale; one at the limit is still fresh."""
    assert stale_heartbeats({"sync": 90.0, "print": 70.0}, 100.0, 10.0) == ["print"]
    assert stale_heartbeats({"sync": 90.0}, 100.0, 10.0) == []


def test_watchdog_pings_only_while_heartbeats_are_fresh(notify_socket: tuple[socket.socket, str]) -> None:
    """Fresh heartbeats give WATCHDOG=1 pings; once one is stale the pings stop and STATUS says why."""
    sock, path = notify_socket
    sock.setblocking(False)
    beats = {"sync": 100.0, "printer:kkt1": 100.0}
    clock = {"now": 101.0}

    async def scenario() -> list[bytes]:
        stale_ticks: list[list[str]] = []
        five_stale_ticks = asyncio.Event()

        def on_tick(stale: list[str]) -> None:
            if stale:
                stale_ticks.append(stale)
            if len(stale_ticks) >= 5:
                five_stale_ticks.set()

        task = asyncio.create_task(
            run_watchdog(Notifier(path), lambda: beats, 10.0, 0.01, clock=lambda: clock["now"], on_tick=on_tick)
        )
        loop = asyncio.get_running_loop()
        fresh = [await asyncio.wait_for(loop.sock_recv(sock, 100), 5) for _ in range(3)]
        clock["now"] = 200.0
        beats["sync"] = 199.0
        # Pings already queued before the change are legitimate; read up to the STATUS that marks it.
        status = b""
        for _ in range(1000):
            status = await asyncio.wait_for(loop.sock_recv(sock, 200), 5)
            if status.startswith(b"STATUS="):
                break
        await asyncio.wait_for(five_stale_ticks.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        leftover = []
        while True:
            try:
                leftover.append(sock.recv(200))
            except BlockingIOError:
                break
        return [*fresh, status, *leftover]

    got = asyncio.run(scenario())
    assert got[:3] == [b"WATCHDOG=1"] * 3
    assert got[3] == b"STATUS=stale workers: printer:kkt1"
    assert b"WATCHDOG=1" not in got[4:]


def test_watchdog_returns_at_once_when_systemd_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``WATCHDOG_USEC`` the watchdog task ends immediately instead of spinning."""
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    asyncio.run(asyncio.wait_for(run_watchdog(Notifier(""), dict, 10.0), 5))


def test_ready_is_sent_only_after_the_port_answers(notify_socket: tuple[socket.socket, str]) -> None:
    """:class:`NotifyingServer` sends READY=1 once uvicorn listens, and STOPPING=1 when it shuts down."""
    sock, path = notify_socket
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = NotifyingServer(uvicorn.Config(app, log_level="warning", lifespan="off"), Notifier(path))

    async def scenario() -> tuple[bytes, int, bytes]:
        task = asyncio.create_task(server.serve(sockets=[listener]))
        loop = asyncio.get_running_loop()
        sock.setblocking(False)
        ready = await asyncio.wait_for(loop.sock_recv(sock, 100), 10)
        async with httpx.AsyncClient() as client:
            status = (await client.get(f"http://127.0.0.1:{port}/ping", timeout=5)).status_code
        server.should_exit = True
        stopping = await asyncio.wait_for(loop.sock_recv(sock, 100), 10)
        await asyncio.wait_for(task, 10)
        return ready, status, stopping

    assert asyncio.run(scenario()) == (b"READY=1", 200, b"STOPPING=1")


def test_status_is_sent_only_when_it_changes(notify_socket: tuple[socket.socket, str]) -> None:
    """``run_status`` sends STATUS= for the first text and for each change, not for repeats."""
    sock, path = notify_socket
    texts = iter(["ok", "ok", "critical: Закончилась бумага — вставьте новый рулон"])
    done = asyncio.Event()

    def text() -> str:
        try:
            return next(texts)
        except StopIteration:
            done.set()
            return "critical: Закончилась бумага — вставьте новый рулон"

    async def scenario() -> None:
        task = asyncio.create_task(run_status(Notifier(path), text, 0.001))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    sock.setblocking(False)
    got = []
    while True:
        try:
            got.append(sock.recv(200).decode())
        except BlockingIOError:
            break
    assert got == ["STATUS=ok", "STATUS=critical: Закончилась бумага — вставьте новый рулон"]
