"""Migration 2 (``fn_ack``, unused since the FN relay keeps its own outbox): a v1 file migrates in place."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from buffer_support import NOW, receipt

from kkt_adapter.buffer.db import connect, migrate
from kkt_adapter.buffer.ops import body_hash
from kkt_adapter.buffer.records import ts
from kkt_adapter.buffer.schema import MIGRATIONS, SCHEMA_VERSION
from kkt_adapter.buffer.store import Store

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


def test_v1_file_migrates_with_rows_pending(tmp_path: Path) -> None:
    """Opening a v1 file migrates it to the latest schema in place: ``fn_ack = 0`` on every row, rows intact."""
    path = tmp_path / "b.db"
    _v1_file(path)

    async def scenario() -> None:
        store = await Store.open(path, clock=lambda: NOW)
        try:
            old = await store.get("old-delivered")
            assert old is not None
            assert (old.fd_number, old.ofd_ticket) == (5, "TOLD")
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
