"""End to end on loopback: the real buffer file, the sync worker, the OFD simulator in its own process.

Every scenario ends in the same state: every document ``delivered``, the simulator holding each
document id exactly once, the DLQ empty (except where a permanent rejection is the point).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_helpers import eventually

from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import ExportSettings, SyncSettings
from kkt_adapter.export.client import ExportClient, ExportClientConfig
from kkt_adapter.export.contract import document_id
from kkt_adapter.export.sim.samples import SAMPLE_FN, seed_fiscalized
from kkt_adapter.export.sim.server import RunningSim, spawned_sim
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.service import SyncService
from kkt_adapter.sync.worker import SyncWorker

FAST = SyncConfig(
    concurrency=16,
    batch=128,
    lease_s=2.0,
    fail_max=5,
    reset_timeout_s=0.5,
    success_threshold=2,
    backoff_base_s=0.05,
    backoff_cap_s=0.5,
    max_attempts=1000,
)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[RunningSim]:
    with spawned_sim(tmp_path / "ofd.sqlite") as running:
        yield running


def _ids(count: int) -> set[str]:
    return {document_id(SAMPLE_FN, index + 1) for index in range(count)}


def _assert_exactly_once(sim: RunningSim, count: int) -> dict[str, Any]:
    listing = sim.control.documents()
    assert listing["total"] == count
    assert {d["id"] for d in listing["documents"]} == _ids(count)
    return listing


async def _drained(store: Store) -> bool:
    return (await store.count_by_state())["fiscalized"] == 0


class Harness:
    """A store, a client and a running worker loop on the current event loop."""

    def __init__(self, store: Store, client: ExportClient, worker: SyncWorker) -> None:
        self.store, self.client, self.worker = store, client, worker
        self.task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, db: Path, base_url: str, config: SyncConfig = FAST, read_timeout_s: float = 2.0) -> Harness:
        store = await Store.open(db)
        client = ExportClient(
            ExportClientConfig(
                base_url=base_url, connect_timeout_s=0.5, read_timeout_s=read_timeout_s, max_connections=16
            )
        )
        worker = SyncWorker(store, client.submit, config, max_idle_s=0.5)
        return cls(store, client, worker)

    def start(self) -> None:
        self.task = asyncio.create_task(self.worker.run())

    async def close(self) -> None:
        self.worker.stop()
        if self.task is not None:
            await asyncio.wait_for(self.task, 10)
        await self.client.aclose()
        await self.store.close()

    async def drain(self, timeout_s: float) -> None:
        await eventually(lambda: _drained(self.store), timeout_s)


def test_outage_calls_are_bounded_by_the_breaker_and_recovery_delivers_everything(
    tmp_path: Path, sim: RunningSim
) -> None:
    """1,000 documents fiscalized during an outage: about one probe per reset timeout, then all delivered once."""
    sim.control.down("refuse")

    async def scenario() -> tuple[int, float, dict[str, int]]:
        h = await Harness.open(tmp_path / "buffer.db", sim.base_url)
        h.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        for start in range(0, 1000, 250):
            await seed_fiscalized(h.store, range(start, start + 250))
            h.worker.wake()
        await asyncio.sleep(2.0)  # the outage itself: let the breaker do its work for a while
        outage_s = loop.time() - started
        calls_in_outage = h.worker.stats.calls
        await asyncio.to_thread(sim.control.up)
        await h.drain(40)
        counts = await h.store.count_by_state()
        await h.close()
        return calls_in_outage, outage_s, counts

    calls, outage_s, counts = asyncio.run(scenario())
    probes_allowed = outage_s / FAST.reset_timeout_s + 2
    assert calls <= FAST.concurrency + FAST.fail_max + probes_allowed, (calls, outage_s)
    assert calls >= 2  # it did probe
    assert (counts["delivered"], counts["dead"]) == (1000, 0)
    _assert_exactly_once(sim, 1000)


def test_flaky_ofd_thirty_percent_errors_still_delivers_each_document_once(tmp_path: Path, sim: RunningSim) -> None:
    """30 % of answers are 500s (half after storing): retries converge, the OFD stores each id once."""
    sim.control.set_faults(error_rate=0.3)

    async def scenario() -> dict[str, int]:
        h = await Harness.open(tmp_path / "buffer.db", sim.base_url)
        await seed_fiscalized(h.store, range(300))
        h.start()
        await h.drain(40)
        counts = await h.store.count_by_state()
        await h.close()
        return counts

    counts = asyncio.run(scenario())
    assert (counts["delivered"], counts["dead"]) == (300, 0)
    listing = _assert_exactly_once(sim, 300)
    assert listing["repeated"] > 0  # some were stored, answered 500, and resubmitted under the same id
    assert sim.control.stats()["answers"]["500"] > 0


def test_slow_ofd_beyond_the_read_timeout_then_recovering_delivers_each_document_once(
    tmp_path: Path, sim: RunningSim
) -> None:
    """Answers slower than the read timeout count as failures; the OFD stored them; retries get 200."""
    sim.control.set_faults(latency_ms=2000)

    async def scenario() -> dict[str, int]:
        h = await Harness.open(tmp_path / "buffer.db", sim.base_url, read_timeout_s=0.3)
        await seed_fiscalized(h.store, range(100))
        h.start()
        await eventually(lambda: _has_timeouts(h), 10)
        await eventually(lambda: _sim_has(sim, 1), 10)
        await asyncio.to_thread(sim.control.set_faults, latency_ms=0)
        await h.drain(30)
        counts = await h.store.count_by_state()
        await h.close()
        return counts

    counts = asyncio.run(scenario())
    assert (counts["delivered"], counts["dead"]) == (100, 0)
    listing = _assert_exactly_once(sim, 100)
    assert listing["repeated"] >= 1  # stored during the slow phase, confirmed by a later 200


async def _has_timeouts(h: Harness) -> bool:
    return "ReadTimeout" in (h.worker.stats.last_error or "")


async def _sim_has(sim: RunningSim, count: int) -> bool:
    stats = await asyncio.to_thread(sim.control.stats)
    return int(stats["documents"]) >= count


def test_rate_limited_ofd_is_honoured_and_everything_is_delivered(tmp_path: Path, sim: RunningSim) -> None:
    """429 + Retry-After: the worker holds all calls for that long, and still delivers everything."""
    sim.control.set_faults(rate_limit_per_s=40, rate_limit_retry_after_s=1)

    async def scenario() -> tuple[dict[str, int], SyncWorker]:
        h = await Harness.open(tmp_path / "buffer.db", sim.base_url)
        await seed_fiscalized(h.store, range(200))
        h.start()
        await h.drain(40)
        counts = await h.store.count_by_state()
        await h.close()
        return counts, h.worker

    counts, worker = asyncio.run(scenario())
    assert (counts["delivered"], counts["dead"]) == (200, 0)
    _assert_exactly_once(sim, 200)
    answers = sim.control.stats()["answers"]
    limited = int(answers.get("429", 0))
    assert limited > 0
    # each 429 starts a 1 s hold; only requests already in flight can be limited in the same window
    assert limited <= FAST.concurrency * (200 // 40 + 2)
    assert worker.breaker.state.value == "closed"


def test_permanent_rejections_land_in_the_dlq_and_replay_delivers_them(tmp_path: Path, sim: RunningSim) -> None:
    """422s go to the DLQ with reason, response and history; replay-all sends the same ids again."""
    sim.control.set_faults(reject_next=3)

    async def scenario() -> tuple[list[Any], list[Any], dict[str, int]]:
        h = await Harness.open(tmp_path / "buffer.db", sim.base_url)
        await seed_fiscalized(h.store, range(10))
        h.start()
        await h.drain(20)
        dead = await h.store.list_dead(100, 0)
        history = await h.store.events_of(dead[0].key)
        assert await h.store.replay_dead(None, "test-operator") == 3
        h.worker.wake()
        await h.drain(20)
        counts = await h.store.count_by_state()
        await h.close()
        return dead, history, counts

    dead, history, counts = asyncio.run(scenario())
    assert len(dead) == 3
    assert all("422" in (d.dead_reason or "") for d in dead)
    assert all("reject-next" in (d.last_response or "") for d in dead)
    assert [e.to_state for e in history if e.kind == "transition"][-1] == "dead"
    assert (counts["delivered"], counts["dead"]) == (10, 0)
    _assert_exactly_once(sim, 10)


def _drain_process(db: Path, base_url: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "kkt_adapter.sync.drain", "--db", str(db), "--export-url", base_url]
    argv += ["--until-empty", "--lease-s", "1", "--concurrency", "8", "--batch", "64", "--max-s", "60"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_of_a_drain_process_mid_drain_loses_and_doubles_nothing(tmp_path: Path, sim: RunningSim) -> None:
    """SIGKILL while submitting: a second drain process finishes; every id is stored once and delivered."""
    db = tmp_path / "buffer.db"
    total = 600

    async def seed() -> None:
        store = await Store.open(db)
        await seed_fiscalized(store, range(total))
        await store.close()

    asyncio.run(seed())
    sim.control.set_faults(latency_ms=20)  # keep submissions in flight when the kill lands
    first = _drain_process(db, sim.base_url)
    try:
        asyncio.run(eventually(lambda: _sim_has(sim, 100), 30))
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    stored_at_kill = int(sim.control.stats()["documents"])
    assert stored_at_kill < total
    sim.control.set_faults(latency_ms=0)
    second = _drain_process(db, sim.base_url)
    _out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err[-2000:]

    async def counts() -> dict[str, int]:
        store = await Store.open(db)
        try:
            return await store.count_by_state()
        finally:
            await store.close()

    final = asyncio.run(counts())
    assert (final["delivered"], final["fiscalized"], final["dead"]) == (total, 0, 0)
    _assert_exactly_once(sim, total)


def test_sync_service_wires_settings_to_a_running_loop_and_stops_cleanly(tmp_path: Path, sim: RunningSim) -> None:
    """SyncService.start from the settings sections delivers what is fiscalized after wake(), then stops."""

    async def scenario() -> dict[str, int]:
        store = await Store.open(tmp_path / "buffer.db")
        service = await SyncService.start(
            store, ExportSettings(enabled=True, base_url=sim.base_url), SyncSettings(reset_timeout_s=1.0), token=None
        )
        await seed_fiscalized(store, range(5))
        service.worker.wake()
        await eventually(lambda: _drained(store), 20)
        await service.stop()
        assert service.task.done()
        counts = await store.count_by_state()
        await store.close()
        return counts

    assert asyncio.run(scenario())["delivered"] == 5
    _assert_exactly_once(sim, 5)
