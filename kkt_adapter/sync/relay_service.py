"""Wiring of the OFD relay for the daemon: the endpoint (config or the KKT's table 19), one relay loop.

Usage in the daemon's lifespan::

    relay = await RelayService.start(store, settings.ofd, settings.sync, on_answer=pipeline.wake)
    pipeline.hooks.on_ofd_message = relay.worker.wake   # the device worker read a message from the FN
    relay.use_device_address(host, port)                # when [ofd] host/port are unset: table 19
    await relay.stop()
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from kkt_adapter.buffer.outbox import OutboxMessage
from kkt_adapter.clock import utc_now
from kkt_adapter.config.settings import OfdSettings, SyncSettings
from kkt_adapter.ofd.transport import OfdEndpoint, OfdTransportError, Stage, exchange
from kkt_adapter.ofd.wire import fix_p_version_0102
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.loop import stop_loop
from kkt_adapter.sync.relay import RelayStore, RelaySync

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 15.0


@dataclass
class EndpointHolder:
    """Where the OFD is: from the configuration, or later from the KKT's table 19 (None until known)."""

    connect_timeout_s: float
    read_timeout_s: float
    endpoint: OfdEndpoint | None = None
    source: str = "unknown"
    fix_p_version: bool = False

    def set(self, host: str, port: int, source: str) -> None:
        self.endpoint = OfdEndpoint(host, port, self.connect_timeout_s, self.read_timeout_s)
        self.source = source

    async def exchange(self, message: bytes) -> bytes:
        """One exchange with the OFD; an unknown address is a connect failure (retried, breaker counts it)."""
        if self.endpoint is None:
            raise OfdTransportError(
                Stage.CONNECT, "the OFD address is unknown: set [ofd] host and port, or the KKT's table 19"
            )
        return await exchange(self.endpoint, fix_p_version_0102(message) if self.fix_p_version else message)


@dataclass
class RelayService:
    """A running relay loop and where it sends."""

    worker: RelaySync
    endpoint: EndpointHolder
    task: asyncio.Task[None]

    @classmethod
    async def start(
        cls,
        store: RelayStore,
        ofd: OfdSettings,
        sync: SyncSettings,
        *,
        now: Callable[[], datetime] = utc_now,
        on_answer: Callable[[OutboxMessage], None] | None = None,
        on_outcome: Callable[[str], None] | None = None,
        on_breaker_change: Callable[[str, str], None] | None = None,
    ) -> RelayService:
        """Start the loop from the ``ofd`` and ``sync`` settings sections; returns at once. ``now``: the wall
        clock of its decisions and of the outbox writes they make (the daemon gives the buffer's)."""
        holder = EndpointHolder(ofd.connect_timeout_s, ofd.read_timeout_s, fix_p_version=ofd.fix_p_version_0102)
        if ofd.host is not None and ofd.port is not None:
            holder.set(ofd.host, ofd.port, "config")
        config = SyncConfig.from_settings(sync)
        if config.lease_s <= ofd.connect_timeout_s + ofd.read_timeout_s:
            # a lease shorter than one exchange would let a second round send the same message meanwhile
            config = dataclasses.replace(config, lease_s=ofd.connect_timeout_s + ofd.read_timeout_s + 10)
        worker = RelaySync(
            store,
            holder.exchange,
            config,
            now=now,
            on_answer=on_answer,
            on_outcome=on_outcome,
            on_breaker_change=on_breaker_change,
        )
        task = asyncio.create_task(worker.run(), name="ofd-relay")
        return cls(worker, holder, task)

    def use_device_address(self, host: str, port: int) -> None:
        """Use the KKT's own OFD address (table 19) unless the configuration named one."""
        if self.endpoint.source == "config":
            return
        self.endpoint.set(host, port, "table 19")
        log.info("OFD relay: sending to %s:%d (the KKT's table 19)", host, port)
        self.worker.wake()

    async def stop(self) -> None:
        """Finish the current round (bounded by ``STOP_TIMEOUT_S``, then cancel)."""
        await stop_loop(self.worker, self.task, STOP_TIMEOUT_S)
