"""The wall clock stepped back one hour mid-drain (NTP correcting a bad RTC): nothing waits longer than its
lease or backoff. The real SQLite store, the worker stepped by hand with injected clocks."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

from sync_helpers import FakeClock

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.export.contract import ExportDocument
from kkt_adapter.export.outcome import Delivered, Outcome, RetryLater
from kkt_adapter.export.sim.samples import seed_fiscalized
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.worker import SyncWorker

HOUR_S = 3600.0
CONFIG = SyncConfig(concurrency=2, batch=8, lease_s=60.0, backoff_base_s=2.0, backoff_cap_s=30.0)


class Ofd:
    """Down while ``down`` is set, else delivers; records every document id submitted."""

    def __init__(self) -> None:
        self.down = True
        self.calls: list[str] = []

    async def __call__(self, document: ExportDocument) -> Outcome:
        self.calls.append(document.id)
        if self.down:
            return RetryLater(None, "transport: ConnectError")
        return Delivered(f"T-{document.id}", 201, "")


def test_retry_times_survive_the_clock_stepping_back(tmp_path: Path) -> None:
    """Retries scheduled before a 1 h backward step are due again within their backoff, not an hour later."""

    async def scenario() -> tuple[int, int, float | None]:
        clock, ofd = FakeClock(), Ofd()
        store = await Store.open(tmp_path / "b.db", clock=clock.now)
        try:
            await seed_fiscalized(store, range(4))
            worker = SyncWorker(store, ofd, CONFIG, now=clock.now, monotonic=clock.monotonic, rng=random.Random(1))
            await worker.run_once()  # all four fail: retry in ≤ 2 s (wall clock)
            clock.wall -= timedelta(seconds=HOUR_S)
            ofd.down = False
            idle = await worker.run_once()  # the same moment after the step: the four are due, not in an hour
            left = (await store.count_by_state()).get(ReceiptState.FISCALIZED.value, 0)
            return len(ofd.calls), left, idle.wait_s
        finally:
            await store.close()

    calls, left, wait_s = asyncio.run(scenario())
    assert calls == 8
    assert left == 0
    assert wait_s is None


def test_leases_survive_the_clock_stepping_back(tmp_path: Path) -> None:
    """Documents leased by a worker that died, then a 1 h backward step: the next worker claims them at once."""

    async def scenario() -> tuple[int, float | None]:
        clock, ofd = FakeClock(), Ofd()
        ofd.down = False
        store = await Store.open(tmp_path / "b.db", clock=clock.now)
        try:
            await seed_fiscalized(store, range(3))
            await store.claim_for_sync(8, CONFIG.lease_s, clock.now())  # a worker that crashed with its lease
            clock.wall -= timedelta(seconds=HOUR_S)
            worker = SyncWorker(store, ofd, CONFIG, now=clock.now, monotonic=clock.monotonic, rng=random.Random(1))
            result = await worker.run_once()
            return result.claimed, result.wait_s
        finally:
            await store.close()

    claimed, wait_s = asyncio.run(scenario())
    assert claimed == 3
    assert wait_s is None
