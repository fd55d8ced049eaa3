"""Migration 2 (``fn_ack``): a v1 file migrates in place, and the store tracks which OFD tickets are in the FN."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from buffer_support import NOW, fiscal, receipt

from kkt_adapter.buffer.db import connect, migrate
from kkt_adapter.buffer.errors import IllegalTransition
from kkt_adapter.buffer.ops import body_hash
from kkt_adapter.buffer.records import ts
from kkt_adapter.buffer.schema import MIGRATIONS, SCHEMA_VERSION
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem

FN = "9999078900001234"  # the serial of buffer_support.fiscal()


def _v1_file(path: Path) -> None:
    """A buffer at schema 1 with one delivered and one accepted receipt, written as version 1 wrote them."""
    conn = connect(path)
    migrate(conn, MIGRATIONS[:1])
    body = receipt()
    common = (body_hash(body), body.model_dump_json(), "kkt1", "osn", "sell", 100, ts(NOW), ts(NOW))
    conn.execute(
        "INSERT INTO receipts (key, body_hash, body, device_id, tax_system, operation, total_kop, created_at,"
        " updated_at, state, fd_number, fn_serial, ofd_ticket) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("old-delivered", *common, "delivered", 5, FN, "TOLD"),
    )
    conn.execute(
        "INSERT INTO receipts (key, body_hash, body, device_id, tax_system, operation, total_kop, created_at,"
        " updated_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("old-accepted", *common, "accepted"),
    )
    conn.close()


async def _delivered(store: Store, key: str, fd_number: int, device: str = "kkt1") -> None:
    """Take a new receipt through printing and fiscalization to ``delivered`` (the sync's store calls)."""
    await store.insert_receipt(key, receipt(fd_number), device, TaxSystem.OSN)
    await store.begin_printing(key, fd_number - 1)
    await store.mark_fiscalized(key, fiscal(fd_number), False, "fiscalized")
    claimed = await store.claim_for_sync(10, 60, NOW)
    assert key in {row.key for row in claimed}
    await store.mark_delivered(key, f"T{fd_number}", NOW + timedelta(seconds=1))


def test_v1_file_migrates_with_rows_pending(tmp_path: Path) -> None:
    """Opening a v1 file adds ``fn_ack = 0`` to every row and its old delivered receipt becomes pending."""
    path = tmp_path / "b.db"
    _v1_file(path)

    async def scenario() -> None:
        store = await Store.open(path, clock=lambda: NOW)
        try:
            pending = await store.fn_unacked("kkt1", FN, 10)
            assert [(r.key, r.fd_number, r.ofd_ticket) for r in pending] == [("old-delivered", 5, "TOLD")]
        finally:
            await store.close()

    asyncio.run(scenario())
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("SELECT key, fn_ack FROM receipts ORDER BY seq").fetchall() == [
        ("old-delivered", 0),
        ("old-accepted", 0),
    ]
    conn.close()


def test_pending_query_uses_the_partial_index(tmp_path: Path) -> None:
    """The relay's query is served by the partial index of pending delivered receipts."""
    conn = connect(tmp_path / "b.db")
    migrate(conn)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM receipts WHERE state = 'delivered' AND fn_ack = 0 AND device_id = ?"
        " AND fn_serial = ? ORDER BY seq LIMIT 8",
        ("kkt1", FN),
    ).fetchall()
    assert any("receipts_fn_ack_pending" in str(row[-1]) for row in plan), plan
    conn.close()


def test_acked_and_refused_receipts_leave_the_pending_list(tmp_path: Path) -> None:
    """fn_unacked lists delivered receipts oldest first; marked ones (written or refused) leave it, with an event."""

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db", clock=lambda: NOW)
        try:
            for fd in (1, 2, 3):
                await _delivered(store, f"k{fd}", fd)
            assert [r.key for r in await store.fn_unacked("kkt1", FN, 2)] == ["k1", "k2"]
            await store.mark_fn_acked("k1")
            await store.mark_fn_ack_refused("k2", "the FN refused it")
            assert [r.key for r in await store.fn_unacked("kkt1", FN, 10)] == ["k3"]
            reasons = [event.reason for event in await store.events_of("k1")]
            assert reasons[-1] == "OFD ticket written to the FN"
            last = (await store.events_of("k2"))[-1]
            assert (last.reason, last.detail) == ("the FN refused it", {"fn_ack": 2})
        finally:
            await store.close()

    asyncio.run(scenario())


def test_pending_list_is_per_device_and_fn(tmp_path: Path) -> None:
    """Only the asked device's receipts on the asked FN are listed; not-yet-delivered ones never are."""

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db", clock=lambda: NOW)
        try:
            await _delivered(store, "a", 1, device="kkt1")
            await _delivered(store, "b", 2, device="kkt2")
            await store.insert_receipt("c", receipt(3), "kkt1", TaxSystem.OSN)
            assert [r.key for r in await store.fn_unacked("kkt1", FN, 10)] == ["a"]
            assert await store.fn_unacked("kkt1", "0000000000000000", 10) == []
        finally:
            await store.close()

    asyncio.run(scenario())


def test_fn_ack_only_for_delivered_receipts(tmp_path: Path) -> None:
    """Marking a receipt that is not delivered raises IllegalTransition and changes nothing."""

    async def scenario() -> None:
        store = await Store.open(tmp_path / "b.db", clock=lambda: NOW)
        try:
            await store.insert_receipt("k", receipt(), "kkt1", TaxSystem.OSN)
            with pytest.raises(IllegalTransition):
                await store.mark_fn_acked("k")
            assert len(await store.events_of("k")) == 1
        finally:
            await store.close()

    asyncio.run(scenario())


def test_next_sync_due_is_answered_from_an_index(tmp_path: Path) -> None:
    """The sync's "when is the next document due" never scans the backlog (migration 3's index)."""
    conn = connect(tmp_path / "due.db")
    try:
        migrate(conn)
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT min(max(coalesce(next_attempt_at, ''), coalesce(lease_until, '')))"
            " FROM receipts WHERE state = 'fiscalized'"
        ).fetchall()
    finally:
        conn.close()
    assert "receipts_sync_due" in " ".join(str(tuple(row)) for row in plan)
