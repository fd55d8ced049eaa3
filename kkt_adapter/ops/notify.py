"""systemd readiness, status and watchdog over ``$NOTIFY_SOCKET`` (sd_notify(3) without libsystemd).

- :class:`Notifier` sends ``READY=1``, ``STOPPING=1``, ``STATUS=…`` and ``WATCHDOG=1`` datagrams; with no
  ``NOTIFY_SOCKET`` (not under systemd) every call is a no-op returning ``False``. A send never raises.
- :func:`run_watchdog` pings every ``WATCHDOG_USEC/2`` only while every heartbeat is fresh (monotonic),
  so systemd restarts a daemon whose workers hung even though its event loop still runs.
- :func:`run_status` keeps ``STATUS=`` in step with a one-line summary (``health.status_line``).
- :class:`NotifyingServer` is a ``uvicorn.Server`` that sends ``READY=1`` only after its sockets listen
  (uvicorn runs the lifespan startup *before* binding) and ``STOPPING=1`` when shutdown starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

import uvicorn

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages to ``socket_path`` (default ``$NOTIFY_SOCKET``; ``@`` means abstract)."""

    def __init__(self, socket_path: str | None = None) -> None:
        self.socket_path = os.environ.get("NOTIFY_SOCKET") if socket_path is None else socket_path

    @property
    def enabled(self) -> bool:
        """Whether there is a socket to notify (the process runs under systemd with ``Type=notify``)."""
        return bool(self.socket_path)

    def send(self, *fields: str) -> bool:
        """Send ``fields`` as one datagram (newline-separated); ``True`` if it was sent."""
        if not self.socket_path:
            return False
        address = "\0" + self.socket_path[1:] if self.socket_path.startswith("@") else self.socket_path
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall("\n".join(fields).encode())
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.socket_path, exc)
            return False
        return True

    def ready(self) -> bool:
        """``READY=1``: the daemon listens and can serve."""
        return self.send("READY=1")

    def stopping(self) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        return self.send("STOPPING=1")

    def status(self, text: str) -> bool:
        """``STATUS=<text>`` (one line, shown by ``systemctl status``)."""
        return self.send("STATUS=" + " ".join(text.split()))

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the daemon is alive."""
        return self.send("WATCHDOG=1")


def watchdog_interval_s(env: Mapping[str, str] | None = None) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, or ``None`` if the watchdog is off or meant for another PID."""
    environ = os.environ if env is None else env
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


def stale_heartbeats(beats: Mapping[str, float], now_mono: float, stale_after_s: float) -> list[str]:
    """Names whose last monotonic beat is older than ``stale_after_s`` at ``now_mono`` (pure)."""
    return sorted(name for name, beat in beats.items() if now_mono - beat > stale_after_s)


async def run_watchdog(
    notifier: Notifier,
    heartbeats: Callable[[], Mapping[str, float]],
    stale_after_s: float,
    interval_s: float | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    on_tick: Callable[[list[str]], None] | None = None,
) -> None:
    """Ping ``WATCHDOG=1`` every ``interval_s`` (default ``WATCHDOG_USEC/2``) while no heartbeat is stale.

    ``heartbeats()`` returns worker name → last ``time.monotonic()`` beat. Returns at once when there is
    no watchdog interval; otherwise runs until cancelled. When a worker goes stale it stops pinging and
    says so in ``STATUS=``; ``on_tick(stale_names)`` is called after every tick (a seam for tests).
    """
    interval = watchdog_interval_s() if interval_s is None else interval_s
    if interval is None or interval <= 0:
        return
    was_stale: list[str] = []
    while True:
        stale = stale_heartbeats(heartbeats(), clock(), stale_after_s)
        if not stale:
            notifier.watchdog()
        elif stale != was_stale:
            log.error("watchdog: not pinging, stale heartbeats: %s", ", ".join(stale))
            notifier.status("stale workers: " + ", ".join(stale))
        was_stale = stale
        if on_tick is not None:
            on_tick(stale)
        await asyncio.sleep(interval)


async def run_status(notifier: Notifier, text: Callable[[], str], interval_s: float = 5.0) -> None:
    """Send ``STATUS=text()`` whenever the text changes, checking every ``interval_s``, until cancelled.

    Returns at once when not under systemd. ``text`` must be cheap (e.g. ``status_line`` of the health).
    """
    if not notifier.enabled:
        return
    last = None
    while True:
        current = text()
        if current != last:
            notifier.status(current)
            last = current
        await asyncio.sleep(interval_s)


class NotifyingServer(uvicorn.Server):
    """A ``uvicorn.Server`` that notifies ``READY=1`` once listening and ``STOPPING=1`` at shutdown."""

    def __init__(self, config: uvicorn.Config, notifier: Notifier) -> None:
        super().__init__(config)
        self.notifier = notifier

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then send ``READY=1`` if the sockets are listening."""
        await super().startup(sockets=sockets)
        if self.started:
            self.notifier.ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Send ``STOPPING=1``, then shut down as uvicorn does."""
        self.notifier.stopping()
        await super().shutdown(sockets=sockets)
