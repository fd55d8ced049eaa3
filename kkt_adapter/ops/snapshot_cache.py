"""The cache that health, metrics and the watchdog read: workers write into it, nobody waits on a port.

Each device worker calls :meth:`SnapshotCache.put_device` after every status poll and
:meth:`SnapshotCache.beat` on every loop turn; the sync worker calls :meth:`put_ofd` and :meth:`beat`;
:func:`run_buffer_refresher` refreshes the buffer's numbers from the store every few seconds.
:meth:`SnapshotCache.get_snapshot` (for ``app.state.get_snapshot``) only assembles what is cached.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from kkt_adapter.clock import utc_now
from kkt_adapter.ops.snapshot import BufferSnapshot, DeviceSnapshot, OfdSnapshot, Snapshot

log = logging.getLogger(__name__)


class BufferSource(Protocol):
    """What the refresher reads from the buffer's :class:`~kkt_adapter.buffer.store.Store`."""

    @property
    def pending(self) -> int: ...
    @property
    def chain_head_seq(self) -> int: ...
    @property
    def chain_problem(self) -> str | None: ...
    async def count_by_state(self) -> dict[str, int]: ...
    async def oldest(self) -> tuple[datetime | None, datetime | None, int]: ...


class SnapshotCache:
    """The latest known state of every component; all methods are cheap and never block."""

    def __init__(self, wall: Callable[[], datetime] = utc_now, mono: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._mono = mono
        self.buffer = BufferSnapshot()
        self.ofd = OfdSnapshot()
        self._devices: dict[str, DeviceSnapshot] = {}
        self._workers: dict[str, float] = {}

    def put_device(self, device: DeviceSnapshot) -> None:
        """Replace the cached state of ``device.device_id``."""
        self._devices[device.device_id] = device

    def put_ofd(self, ofd: OfdSnapshot) -> None:
        """Replace the cached state of the OFD sync."""
        self.ofd = ofd

    def put_buffer(self, buffer: BufferSnapshot) -> None:
        """Replace the cached numbers of the buffer."""
        self.buffer = buffer

    def beat(self, worker: str) -> None:
        """Record that ``worker`` is alive now (monotonic)."""
        self._workers[worker] = self._mono()

    def heartbeats(self) -> dict[str, float]:
        """Worker name → last monotonic beat (for :func:`kkt_adapter.ops.notify.run_watchdog`)."""
        return dict(self._workers)

    def get_snapshot(self) -> Snapshot:
        """The cached state as one immutable :class:`Snapshot`, stamped now."""
        devices = tuple(self._devices[k] for k in sorted(self._devices))
        return Snapshot(self._wall(), self._mono(), self.buffer, devices, self.ofd, dict(self._workers))


async def read_buffer(
    store: BufferSource, db_path: Path, capacity: int, last_write_error: str | None = None
) -> BufferSnapshot:
    """Read the buffer's numbers (two short queries on the store's reader thread, and a statvfs)."""
    counts = await store.count_by_state()
    oldest_unfiscalized, oldest_undelivered, dlq = await store.oldest()
    directory = db_path.parent if str(db_path.parent) else Path()
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        free = 0
    writable = last_write_error is None and os.access(directory, os.W_OK)
    return BufferSnapshot(
        counts_by_state={state: n for state, n in counts.items() if n},
        oldest_unfiscalized_at=oldest_unfiscalized,
        oldest_undelivered_at=oldest_undelivered,
        capacity_used=store.pending,
        capacity_limit=capacity,
        dlq_size=dlq,
        disk_free_bytes=free,
        writable=writable,
        last_write_error=last_write_error,
        chain_head_seq=store.chain_head_seq,
        chain_problem=store.chain_problem,
    )


async def run_buffer_refresher(
    cache: SnapshotCache,
    store: BufferSource,
    db_path: Path,
    capacity: int,
    last_write_error: Callable[[], str | None] = lambda: None,
    interval_s: float = 2.0,
) -> None:
    """Refresh ``cache.buffer`` every ``interval_s`` until cancelled; beats as worker ``buffer``."""
    while True:
        try:
            cache.put_buffer(await read_buffer(store, db_path, capacity, last_write_error()))
            cache.beat("buffer")
        except Exception:  # a failed read must not kill the loop; the stale beat reports it
            log.exception("buffer snapshot refresh failed")
        await asyncio.sleep(interval_s)
