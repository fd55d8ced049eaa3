"""The snapshot cache: workers' writes become one immutable snapshot; the buffer's numbers come from a real store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from kkt_adapter.buffer.store import Store
from kkt_adapter.ops.health import Verdict, evaluate
from kkt_adapter.ops.snapshot import BufferSnapshot
from kkt_adapter.ops.snapshot_cache import SnapshotCache, read_buffer
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
RECEIPT = ReceiptIn.model_validate(
    {
        "operation": "sell",
        "items": [{"name": "Хлеб", "price_kop": 5_990, "quantity": "2", "amount_kop": 11_980, "vat": "vat10"}],
        "payments": [{"type": "cash", "amount_kop": 11_980}],
        "total_kop": 11_980,
    }
)


def test_cache_assembles_buffer_numbers_and_heartbeats() -> None:
    """The cached buffer numbers and loop beats come back in one snapshot stamped now, beats monotonic."""
    mono = {"t": 10.0}
    cache = SnapshotCache(wall=lambda: NOW, mono=lambda: mono["t"])
    cache.put_buffer(BufferSnapshot(capacity_used=7))
    cache.beat("sync")
    mono["t"] = 15.0
    snap = cache.get_snapshot()
    assert snap.buffer.capacity_used == 7
    assert snap.devices == ()
    assert snap.workers == {"sync": 10.0}
    assert snap.taken_mono == 15.0
    assert cache.heartbeats() == {"sync": 10.0}


def test_buffer_numbers_come_from_the_store(tmp_path: Path) -> None:
    """Counts, the oldest unfiscalized time, capacity and disk space are read from a real buffer file."""

    async def run() -> SnapshotCache:
        store = await Store.open(tmp_path / "buffer.db", capacity=10)
        try:
            for i in range(3):
                await store.insert_receipt(f"k{i}", RECEIPT, "kkt1", TaxSystem.OSN)
            cache = SnapshotCache()
            cache.put_buffer(await read_buffer(store, tmp_path / "buffer.db", 10))
        finally:
            await store.close()
        return cache

    snap = asyncio.run(run()).get_snapshot()
    assert snap.buffer.counts_by_state == {"accepted": 3}
    assert snap.buffer.capacity_used == 3
    assert snap.buffer.oldest_unfiscalized_at is not None
    assert snap.buffer.disk_free_bytes > 0
    assert snap.buffer.writable is True
    assert evaluate(snap, snap.taken_at).verdict is Verdict.OK


def test_receipts_of_a_device_removed_from_the_config_are_named_by_health(tmp_path: Path) -> None:
    """Two receipts of device "old" (not configured): the snapshot's orphans count them and health warns
    with the command that moves or rejects them."""

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db", clock=lambda: NOW)
        try:
            for key, device in (("a", "old"), ("b", "old"), ("c", "kkt1")):
                await store.insert_receipt(key, RECEIPT, device, TaxSystem.OSN)
            buffer = await read_buffer(store, tmp_path / "b.db", 1000, configured=frozenset({"kkt1"}))
        finally:
            await store.close()
        assert dict(buffer.orphans) == {"old": 2}
        snap = SnapshotCache(wall=lambda: NOW)
        snap.put_buffer(buffer)
        [problem] = [p for p in evaluate(snap.get_snapshot(), NOW).problems if p.code == "orphan_receipts"]
        assert problem.sentence_ru.startswith("2 чека кассы old ждут печати, но этой кассы нет в настройках")
        assert "kkt-adapter orphans move old --to" in problem.sentence_ru

    asyncio.run(scenario())
