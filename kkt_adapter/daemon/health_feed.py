"""The one health feed: a :class:`Snapshot` from the running parts, on demand.

Buffer numbers come from the :class:`SnapshotCache` (refreshed by its loop), devices from the pipeline's
worker caches, the OFD part from the relay loop and its breaker, read directly. Everything here reads
in-memory state; nothing waits on a serial port or the network. The pause switch lives in the buffer,
so a small loop (:meth:`HealthFeed.run`) refreshes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from kkt_adapter.ops.snapshot import BreakerState, OfdSnapshot, Snapshot
from kkt_adapter.ops.snapshot_cache import SnapshotCache
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.sync.relay import RelaySync
from kkt_adapter.sync.worker import SyncWorker

log = logging.getLogger("kkt_adapter.daemon")


def ofd_snapshot(
    sync_worker: SyncWorker | RelaySync | None, paused: bool, oldest_undelivered_at: datetime | None, now: datetime
) -> OfdSnapshot:
    """The OFD part of the snapshot from the relay loop and its breaker (None: no loop runs, nothing to say)."""
    lag = None if oldest_undelivered_at is None else max((now - oldest_undelivered_at).total_seconds(), 0.0)
    if sync_worker is None:
        return OfdSnapshot(sync_lag_s=lag)
    breaker = sync_worker.breaker
    return OfdSnapshot(
        breaker=BreakerState(breaker.state.value),
        last_success_at=sync_worker.stats.last_delivered_at,
        consecutive_failures=breaker.fail_counter,
        sync_paused=paused,
        sync_lag_s=lag,
        auth_refused=getattr(sync_worker, "auth_refused", None),
    )


class HealthFeed:
    """Builds :class:`Snapshot` values on demand from the cache, the pipeline and the sync worker."""

    def __init__(
        self,
        cache: SnapshotCache,
        pipeline: Pipeline | None,
        sync_worker: SyncWorker | RelaySync | None,
        ofd_mode: str = "relay",
        open_dead: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        """``open_dead()``: the relay's dead or FN-refused messages nobody acknowledged (read every round)."""
        self.cache = cache
        self.ofd_mode = ofd_mode
        self.open_dead = open_dead
        self.dead = 0
        self.pipeline = pipeline
        self.sync_worker = sync_worker
        self.paused = False
        self.export: SyncWorker | None = None  # the HQ export's loop: its refused token is a red alarm too

    def snapshot(self) -> Snapshot:
        """The current snapshot; cheap, called on the event loop."""
        base = self.cache.get_snapshot()
        devices = self.pipeline.health_devices() if self.pipeline is not None else base.devices
        ofd = ofd_snapshot(self.sync_worker, self.paused, base.buffer.oldest_undelivered_at, base.taken_at)
        if self.export is not None and self.export.auth_refused is not None:
            ofd = replace(ofd, auth_refused=self.export.auth_refused)
        # Receipts waiting for the optional HQ export are not the OFD's backlog: the OFD's 30-day clock is
        # the FN's own queue (FF39), in ``devices``.
        buffer = replace(base.buffer, oldest_undelivered_at=None)
        ofd = replace(ofd, mode=self.ofd_mode, dead_messages=self.dead)
        return replace(base, buffer=buffer, devices=devices, ofd=ofd, workers=self.heartbeats())

    def heartbeats(self) -> dict[str, float]:
        """Loop heartbeats (monotonic) for health and the systemd watchdog.

        A device's poll heartbeat is not among them: an unplugged printer is a health problem the page
        reports (``heartbeat_age_s`` of the device), not a hung daemon that systemd should restart.
        """
        return self.cache.heartbeats()

    async def run(self, interval_s: float = 2.0) -> None:
        """Refresh what lives in the buffer (the pause switch) until cancelled; beat as ``health``."""
        while True:
            if self.sync_worker is not None:
                try:
                    self.paused = await self.sync_worker.is_paused()
                except Exception:  # a failed read must not kill the loop; the stale beat reports it
                    log.exception("reading the sync pause switch failed")
            if self.open_dead is not None:
                try:
                    self.dead = await self.open_dead()
                except Exception:  # as above
                    log.exception("reading the OFD relay's dead letters failed")
            self.cache.beat("health")
            await asyncio.sleep(interval_s)
