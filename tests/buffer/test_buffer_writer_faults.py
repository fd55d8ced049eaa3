"""The writer's failure paths: what every caller is told equals what the database holds, and the chain stays valid."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from buffer_support import NOW, receipt

from kkt_adapter.buffer import events, ops
from kkt_adapter.buffer.errors import StorageUnavailable
from kkt_adapter.buffer.events import EventDraft
from kkt_adapter.buffer.states import PENDING
from kkt_adapter.buffer.writer import Tx, Writer
from kkt_adapter.receipts.model import TaxSystem

THREADS = 4
PER_THREAD = 15
PAD_BYTES = 400_000


def insert_op(key: str, variant: int, pad: bool = False) -> Any:
    """Insert a receipt; with ``pad`` also a large audit event that no longer fits the capped file."""

    def op(tx: Tx) -> Any:
        stored = ops.insert_receipt(tx, ops.NewReceipt.prepare(key, receipt(variant), "kkt1", TaxSystem.OSN, NOW))
        if pad:
            tx.event(EventDraft("2026-11-27T12:00:00+00:00", "audit", "pad", "test", detail={"x": "p" * PAD_BYTES}))
        return stored

    return op


def cap_file(tx: Tx) -> None:
    """Let the file grow by a few pages only: a large event then fails with SQLITE_FULL."""
    pages = tx.conn.execute("PRAGMA page_count").fetchone()[0]
    tx.conn.execute(f"PRAGMA max_page_count={pages + 40}")


def read_back(path: Path) -> tuple[set[str], events.ChainVerdict, int]:
    conn = sqlite3.connect(path)
    try:
        keys = {row[0] for row in conn.execute("SELECT key FROM receipts")}
        marks = ",".join("?" * len(PENDING))
        pending = conn.execute(
            f"SELECT count(*) FROM receipts WHERE state IN ({marks})",  # noqa: S608 — placeholders only
            tuple(s.value for s in PENDING),
        ).fetchone()[0]
        return keys, events.verify_chain(conn), pending
    finally:
        conn.close()


def test_disk_full_in_concurrent_groups_tells_each_caller_the_truth(tmp_path: Path) -> None:
    """Under a capped file, concurrent groups with whole-transaction rollbacks: acknowledged = stored, chain valid."""
    path = tmp_path / "b.db"
    writer = Writer(path, group_max=8)
    writer.submit(cap_file).result(timeout=10)
    told: dict[str, Future[Any]] = {}
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def client(n: int) -> None:
        start.wait(timeout=10)
        for i in range(PER_THREAD):
            key = f"t{n}-{i}"
            future = writer.submit(insert_op(key, n * 100 + i, pad=(i % 5 == 2)), intake=True)
            with lock:
                told[key] = future

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    acknowledged, refused = set(), set()
    for key, future in told.items():
        try:
            future.result(timeout=30)
            acknowledged.add(key)
        except StorageUnavailable:
            refused.add(key)
    writer.close()
    stored, verdict, pending = read_back(path)
    assert refused, "the cap must have refused some groups for the test to mean anything"
    assert stored == acknowledged
    assert verdict.ok, verdict.problem
    assert writer.pending == pending == len(acknowledged)


def test_a_cancelled_caller_does_not_break_a_committed_group(tmp_path: Path) -> None:
    """One caller cancelled while its group waits: the others are told "saved", listeners run, no storage error."""
    path = tmp_path / "b.db"
    heard: list[set[str]] = []
    writer = Writer(path, on_commit=heard.append)
    inside, release = threading.Event(), threading.Event()

    def blocker(_: Tx) -> None:
        inside.set()
        assert release.wait(timeout=10)

    async def scenario() -> tuple[list[Any], bool]:
        held = asyncio.ensure_future(writer.run(blocker))
        await asyncio.to_thread(inside.wait, 10)
        doomed = asyncio.ensure_future(writer.run(insert_op("gone", 1), intake=True))
        others = [asyncio.ensure_future(writer.run(insert_op(f"k{n}", 10 + n), intake=True)) for n in range(3)]
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.sleep(0)
        release.set()
        await held
        return await asyncio.gather(*others, return_exceptions=True), doomed.cancelled()

    results, cancelled = asyncio.run(scenario())
    writer.close()
    stored, verdict, _ = read_back(path)
    assert cancelled
    assert not [r for r in results if isinstance(r, BaseException)]
    assert stored == {"k0", "k1", "k2"}
    assert {"k0", "k1", "k2"} <= set().union(*heard)
    assert writer.last_error is None
    assert verdict.ok


def test_a_caller_cancelled_while_its_group_runs_is_still_committed(tmp_path: Path) -> None:
    """Cancelled after its group started: the write commits (the group's outcome stands), later callers are served."""
    path = tmp_path / "b.db"
    writer = Writer(path)
    inside, release = threading.Event(), threading.Event()

    def slow_insert(tx: Tx) -> None:
        inside.set()
        assert release.wait(timeout=10)
        insert_op("late", 1)(tx)

    async def scenario() -> bool:
        running = asyncio.ensure_future(writer.run(slow_insert, intake=True))
        await asyncio.to_thread(inside.wait, 10)
        running.cancel()
        release.set()
        await asyncio.sleep(0)
        await writer.run(insert_op("after", 2), intake=True)
        return running.cancelled()

    cancelled = asyncio.run(scenario())
    writer.close()
    stored, verdict, _ = read_back(path)
    assert cancelled
    assert stored == {"late", "after"}
    assert verdict.ok


def test_a_disk_under_min_free_bytes_refuses_new_receipts_but_not_the_rest(tmp_path: Path) -> None:
    """Free space under ``min_free_bytes``: intake operations are refused "almost full" (nothing stored), other
    writes of the same moment still commit; asked again for every group while low (not from a stale answer)."""
    path = tmp_path / "b.db"
    writer = Writer(path, min_free_bytes=2**62)
    try:
        refused = [writer.submit(insert_op(f"k{n}", n), intake=True) for n in range(3)]
        other = writer.submit(lambda tx: tx.event(EventDraft("2026-11-30T05:00:00Z", "audit", "kept", "test")))
        other.result(timeout=10)
        for future in refused:
            error = future.exception(timeout=10)
            assert isinstance(error, StorageUnavailable)
            assert "almost full" in str(error)
        writer._min_free_bytes = 1  # the operator freed space: the next group must see it at once
        writer.submit(insert_op("after", 9), intake=True).result(timeout=10)
    finally:
        writer.close()
    stored, verdict, _ = read_back(path)
    assert stored == {"after"}
    assert verdict.ok
