"""Schema migration 7: a receipt's events are found by the receipt's seq, other keys' by their own index.

The old way (``events_by_key``, every event by its key) is the reference: after the migration, and for
events written since, :func:`queries.events_of` answers exactly what ``WHERE key = ? ORDER BY seq`` does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from buffer_support import NOW, receipt

from kkt_adapter.buffer import queries
from kkt_adapter.buffer.db import migrate, open_buffer
from kkt_adapter.buffer.outbox import event_key
from kkt_adapter.buffer.schema import MIGRATIONS
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem

FN = "9999078902004567"
KEYS = ["k-b", "k-a", "ofd:0:1", "k-c"]  # "ofd:0:1" is a receipt key shaped like an outbox event's key


def reference(conn: sqlite3.Connection, key: str) -> list[tuple[object, ...]]:
    """The events of ``key`` as the log holds them: every row with that key, in order (no index needed)."""
    return [tuple(r) for r in conn.execute("SELECT seq, key, to_state FROM events WHERE key = ? ORDER BY seq", (key,))]


def answered(conn: sqlite3.Connection, key: str) -> list[tuple[object, ...]]:
    return [(e.seq, e.key, e.to_state) for e in queries.events_of(conn, key)]


async def _history(path: Path) -> None:
    """Receipts with transitions in between each other, outbox events and keyless audit events."""
    store = await Store.open(path)
    try:
        for key in KEYS:
            await store.insert_receipt(key, receipt(), "kkt1", TaxSystem.OSN)
        await store.outbox_put("kkt1", FN, 1, 3, b"message")
        await store.begin_printing("k-a", 0)
        await store.outbox_claim(10, 60, NOW)
        await store.begin_printing("k-b", 0)
        await store.set_setting("shift.close_at", "23:00", "admin")  # an event of no key
    finally:
        await store.close()


def _keys(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT DISTINCT key FROM events WHERE key IS NOT NULL ORDER BY key").fetchall()
    return [str(r[0]) for r in rows]


def test_events_written_since_are_found_as_by_their_key(tmp_path: Path) -> None:
    """A fresh buffer: each receipt's, outbox row's and lookalike key's events, exactly and in order."""
    path = tmp_path / "b.db"
    asyncio.run(_history(path))
    conn = open_buffer(path)
    keys = _keys(conn)
    assert {*KEYS, event_key(FN, 1)} <= set(keys)
    for key in [*keys, "never-stored"]:
        assert answered(conn, key) == reference(conn, key), key
    seqs = dict(conn.execute("SELECT key, seq FROM receipts").fetchall())
    for key, receipt_seq in conn.execute("SELECT key, receipt_seq FROM events"):
        assert receipt_seq == seqs.get(key), key  # NULL for the outbox's and keyless events
    conn.close()


def test_migration_7_fills_the_receipt_seq_of_events_written_before_it(tmp_path: Path) -> None:
    """A buffer of schema 6 (events indexed by key) upgraded: the same answers, the key index replaced."""
    path = tmp_path / "b.db"
    _write_schema_6_history(path)
    conn = open_buffer(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    named = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'"
    indexes = {r[0] for r in conn.execute(named)}
    assert indexes == {"events_by_receipt", "events_by_other_key"}
    for key in [*_keys(conn), "never-stored"]:
        assert answered(conn, key) == reference(conn, key), key
    assert conn.execute("SELECT count(*) FROM events WHERE receipt_seq IS NOT NULL").fetchone()[0] > len(KEYS)
    conn.close()


def _write_schema_6_history(path: Path) -> None:
    """Receipts and events (receipts', the outbox's, a keyless one) in a file migrated up to schema 6."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:6])
    rows = [(f"2026-11-30T10:00:0{i}+00:00", key, state) for i, (key, state) in enumerate(_SCHEMA_6_EVENTS)]
    conn.execute("BEGIN")
    for n, key in enumerate(KEYS, start=1):
        conn.execute(
            "INSERT INTO receipts (seq, key, body_hash, body, device_id, tax_system, operation, total_kop, state,"
            " created_at, updated_at) VALUES (?, ?, 'h', '{}', 'kkt1', 'osn', 'sell', 100, 'accepted', ?, ?)",
            (n * 10, key, rows[0][0], rows[0][0]),
        )
    conn.executemany(
        "INSERT INTO events (at, kind, key, from_state, to_state, actor, reason, detail, prev_hash, hash)"
        " VALUES (?, 'transition', ?, NULL, ?, 'api', 'r', '{}', 'p', 'h')",
        rows,
    )
    conn.execute("COMMIT")
    conn.close()


_SCHEMA_6_EVENTS = [
    ("k-b", "accepted"),
    ("k-a", "accepted"),
    (event_key(FN, 1), "read"),
    ("ofd:0:1", "accepted"),
    ("k-a", "printing"),
    (None, None),
    ("k-c", "accepted"),
    ("k-b", "printing"),
    (event_key(FN, 1), "answered"),
]


def test_events_of_reads_through_its_indexes(tmp_path: Path) -> None:
    """The query plan: the receipt's events by ``events_by_receipt``, other keys' by ``events_by_other_key``
    — never a scan of the whole log, which holds millions of rows in a busy shop's year."""
    conn = open_buffer(tmp_path / "b.db")
    plan = " | ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {queries.EVENTS_OF}", ("k", "k", "k")))
    assert "USING INDEX events_by_receipt (receipt_seq=?)" in plan, plan
    assert "USING INDEX events_by_other_key (key=?)" in plan, plan
    assert "SCAN events" not in plan, plan
    conn.close()
