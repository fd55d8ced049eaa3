"""The buffer's numbers and the loops' heartbeats, cached for health: nobody waits on the database.

:func:`run_buffer_refresher` refreshes the buffer's numbers from the store every few seconds; the
operations loops call :meth:`SnapshotCache.beat`. :meth:`SnapshotCache.get_snapshot` assembles what is
cached; the health feed (:mod:`kkt_adapter.daemon.health_feed`) adds the devices and the OFD sync.
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
from kkt_adapter.ops.snapshot import BufferSnapshot, OfdSnapshot, Snapshot

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
    async def unfinished_by_device(self) -> dict[str, int]: ...


class SnapshotCache:
    """The latest known state of every component; all methods are cheap and never block."""

    def __init__(self, wall: Callable[[], datetime] = utc_now, mono: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._mono = mono
        self.buffer = BufferSnapshot()
        self._workers: dict[str, float] = {}

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
        """The cached buffer numbers and heartbeats as one :class:`Snapshot`, stamped now (no devices, the
        OFD part at its defaults: the health feed fills them in)."""
        return Snapshot(self._wall(), self._mono(), self.buffer, (), OfdSnapshot(), dict(self._workers))


async def read_buffer(
    store: BufferSource,
    db_path: Path,
    capacity: int,
    last_write_error: str | None = None,
    configured: frozenset[str] | None = None,
) -> BufferSnapshot:
    """Read the buffer's numbers (three short queries on the store's reader thread, and a statvfs).

    ``configured``: the device ids of the configuration; unfinished receipts of any other device are the
    snapshot's ``orphans`` (None: not checked)."""
    counts = await store.count_by_state()
    orphans: dict[str, int] = {}
    if configured is not None:
        by_device = await store.unfinished_by_device()
        orphans = {device: n for device, n in sorted(by_device.items()) if device not in configured and n}
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
        orphans=orphans,
    )


async def run_buffer_refresher(
    cache: SnapshotCache,
    store: BufferSource,
    db_path: Path,
    capacity: int,
    last_write_error: Callable[[], str | None] = lambda: None,
    interval_s: float = 2.0,
    configured: frozenset[str] | None = None,
) -> None:
    """Refresh ``cache.buffer`` every ``interval_s`` until cancelled; beats as worker ``buffer``."""
    while True:
        try:
            cache.put_buffer(await read_buffer(store, db_path, capacity, last_write_error(), configured))
            cache.beat("buffer")
        except Exception:  # a failed read must not kill the loop; the stale beat reports it
            log.exception("buffer snapshot refresh failed")
        await asyncio.sleep(interval_s)
