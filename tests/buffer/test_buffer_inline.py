"""The intake's groups opened on the event loop (``buffer/inline.py``): together, never blocking the loop,
through the writer's queue whenever it is busy, and a failed COMMIT told to every caller."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from buffer_support import hold_writer, receipt

from kkt_adapter.buffer.errors import StorageUnavailable
from kkt_adapter.buffer.store import Store
from kkt_adapter.buffer.writer import Tx, Writer
from kkt_adapter.receipts.model import TaxSystem


def _count(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Count calls of ``Writer.<name>`` (the real method still runs)."""
    calls = [0]
    real = getattr(Writer, name)

    def counted(self: Writer, *args: Any) -> Any:
        calls[0] += 1
        return real(self, *args)

    monkeypatch.setattr(Writer, name, counted)
    return calls


async def _stored(store: Store, key: str) -> bool:
    return await store.get(key) is not None


def test_receipts_arriving_together_are_one_group_committed_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten receipts posted in one turn of the loop: one inline group, one COMMIT, the writer thread idle."""
    inline, queued = _count(monkeypatch, "commit_inline"), _count(monkeypatch, "_run_batch")

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db")
        try:
            results = await asyncio.gather(
                *(store.insert_receipt(f"k{i}", receipt(i), "kkt1", TaxSystem.OSN) for i in range(10))
            )
            assert [(r.key, created) for r, created in results] == [(f"k{i}", True) for i in range(10)]
            assert all([await _stored(store, f"k{i}") for i in range(10)])
        finally:
            await store.close()

    asyncio.run(scenario())
    assert (inline[0], queued[0]) == (1, 0)


def test_while_the_writer_thread_is_busy_a_receipt_waits_in_its_queue(tmp_path: Path) -> None:
    """With the writer thread inside another operation, a new receipt takes the queue and is stored after."""

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db")
        try:
            inside, release, blocker = hold_writer(store.writer)
            assert inside.wait(5)
            task = asyncio.create_task(store.insert_receipt("k1", receipt(), "kkt1", TaxSystem.OSN))
            await asyncio.sleep(0.2)
            assert not task.done()
            release.set()
            stored, created = await asyncio.wait_for(task, 5)
            assert (stored.key, created) == ("k1", True)
            blocker.result(timeout=5)
        finally:
            await store.close()

    asyncio.run(scenario())


def test_another_process_writing_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """A foreign connection holds the write lock: the loop keeps its pace (no 5 s busy wait on it), the
    receipt waits on the writer thread and is stored once the lock is free."""
    path = tmp_path / "b.db"

    async def scenario() -> None:
        store = await Store.open(path)
        foreign = sqlite3.connect(path, isolation_level=None)
        try:
            foreign.execute("BEGIN IMMEDIATE")
            task = asyncio.create_task(store.insert_receipt("k1", receipt(), "kkt1", TaxSystem.OSN))
            lags = []
            for _ in range(10):
                started = time.monotonic()
                await asyncio.sleep(0.02)
                lags.append(time.monotonic() - started - 0.02)
            assert max(lags) < 0.2, lags
            assert not task.done()
            foreign.execute("ROLLBACK")
            stored, created = await asyncio.wait_for(task, 10)
            assert (stored.key, created) == ("k1", True)
        finally:
            foreign.close()
            await store.close()

    asyncio.run(scenario())


def test_a_caller_cancelled_before_its_group_began_is_not_stored(tmp_path: Path) -> None:
    """Cancelled within the turn it arrived in, a receipt is dropped; the others of the turn are stored."""

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db")
        try:
            gone = asyncio.create_task(store.insert_receipt("gone", receipt(1), "kkt1", TaxSystem.OSN))
            kept = asyncio.create_task(store.insert_receipt("kept", receipt(2), "kkt1", TaxSystem.OSN))
            await asyncio.sleep(0)  # both are waiting for their group; it has not begun
            gone.cancel()
            await asyncio.wait_for(kept, 5)
            with pytest.raises(asyncio.CancelledError):
                await gone
            assert (await _stored(store, "gone"), await _stored(store, "kept")) == (False, True)
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_failed_commit_is_every_callers_error_and_leaves_nothing(tmp_path: Path) -> None:
    """A COMMIT that SQLite refuses (here a deferred foreign key still violated) undoes the whole group:
    ``commit_inline`` returns the error, the connection is free again and the next group commits."""
    writer = Writer(tmp_path / "b.db")
    try:
        writer.submit(_make_tables).result(timeout=5)

        def orphan(tx: Tx, values: list[int]) -> list[int]:
            tx.conn.executemany("INSERT INTO child (parent) VALUES (?)", [(v,) for v in values])
            return values

        opened = writer.begin_inline(orphan, [1, 2])
        assert opened is not None
        tx, outcomes = opened
        assert outcomes == [1, 2]
        error = writer.commit_inline(tx)
        assert isinstance(error, StorageUnavailable)
        assert writer.submit(_children).result(timeout=5) == 0
        reopened = writer.begin_inline(lambda tx, items: items, ["next"])
        assert reopened is not None
        assert writer.commit_inline(reopened[0]) is None
    finally:
        writer.close()


def _make_tables(tx: Tx) -> None:
    tx.conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    tx.conn.execute("CREATE TABLE child (parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")


def _children(tx: Tx) -> int:
    return int(tx.conn.execute("SELECT count(*) FROM child").fetchone()[0])
