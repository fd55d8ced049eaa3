"""Read-only queries of the buffer, as functions of a connection (run on the reader thread).

Every query fetches all its rows before returning, so no cursor keeps a read transaction open (a
permanently open reader would starve WAL checkpoints).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from kkt_adapter.buffer.events import Event
from kkt_adapter.buffer.records import StoredReceipt, from_ts
from kkt_adapter.buffer.states import ReceiptState

S = ReceiptState


def get(conn: sqlite3.Connection, key: str) -> StoredReceipt | None:
    row = conn.execute("SELECT * FROM receipts WHERE key = ?", (key,)).fetchone()
    return StoredReceipt.from_row(row) if row else None


def listing(conn: sqlite3.Connection, state: ReceiptState | None, after_seq: int, limit: int) -> list[StoredReceipt]:
    """Receipts in acceptance order after ``after_seq`` (keyset paging), optionally of one state."""
    if state is None:
        rows = conn.execute("SELECT * FROM receipts WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)).fetchall()
    else:
        rows = conn.execute(
            "SELECT * FROM receipts WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?",
            (state.value, after_seq, limit),
        ).fetchall()
    return [StoredReceipt.from_row(r) for r in rows]


def of_device(
    conn: sqlite3.Connection, device_id: str, states: tuple[ReceiptState, ...], limit: int
) -> list[StoredReceipt]:
    """Receipts of one device in the given states, oldest first."""
    marks = ",".join("?" * len(states))
    rows = conn.execute(
        f"SELECT * FROM receipts WHERE device_id = ? AND state IN ({marks}) ORDER BY seq LIMIT ?",  # noqa: S608
        (device_id, *(s.value for s in states), limit),
    ).fetchall()
    return [StoredReceipt.from_row(r) for r in rows]


def incomplete_prints(conn: sqlite3.Connection, device_id: str) -> list[StoredReceipt]:
    """Fiscalized receipts of the device whose paper copy is not finished."""
    rows = conn.execute(
        "SELECT * FROM receipts WHERE device_id = ? AND print_incomplete = 1 ORDER BY seq", (device_id,)
    ).fetchall()
    return [StoredReceipt.from_row(r) for r in rows]


def next_sync_due(conn: sqlite3.Connection) -> datetime | None:
    """When the earliest ``fiscalized`` document becomes due (its retry time or lease end), if any."""
    row = conn.execute(
        "SELECT min(max(coalesce(next_attempt_at, ''), coalesce(lease_until, ''))) FROM receipts"
        " WHERE state = 'fiscalized'"
    ).fetchone()
    if row[0] is None:
        return None
    return from_ts(row[0]) if row[0] else datetime.min.replace(tzinfo=UTC)  # due at once


def dead(conn: sqlite3.Connection, limit: int, offset: int) -> list[StoredReceipt]:
    rows = conn.execute(
        "SELECT * FROM receipts WHERE state = 'dead' ORDER BY seq LIMIT ? OFFSET ?", (limit, offset)
    ).fetchall()
    return [StoredReceipt.from_row(r) for r in rows]


_EVENT_COLUMNS = "seq, at, kind, key, from_state, to_state, actor, reason, detail"
# A receipt's events by the receipt's seq, any other key's by the key (schema migration 7).
EVENTS_OF = (
    f"SELECT {_EVENT_COLUMNS} FROM events WHERE receipt_seq = (SELECT seq FROM receipts WHERE key = ?) AND key = ?"  # noqa: S608 — constant columns
    f" UNION ALL SELECT {_EVENT_COLUMNS} FROM events WHERE receipt_seq IS NULL AND key = ? ORDER BY seq"
)


def events_of(conn: sqlite3.Connection, key: str) -> list[Event]:
    """The events under ``key`` (a receipt's or an outbox row's), oldest first."""
    rows = conn.execute(EVENTS_OF, (key, key, key)).fetchall()
    return [_event(r) for r in rows]


def audit_events(conn: sqlite3.Connection, limit: int) -> list[Event]:
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE kind = 'audit' ORDER BY seq DESC LIMIT ?",  # noqa: S608
        (limit,),
    ).fetchall()
    return [_event(r) for r in rows]


def _event(row: sqlite3.Row) -> Event:
    at = from_ts(row["at"])
    assert at is not None  # noqa: S101 — NOT NULL column
    return Event(
        seq=row["seq"],
        at=at,
        kind=row["kind"],
        key=row["key"],
        from_state=row["from_state"],
        to_state=row["to_state"],
        actor=row["actor"],
        reason=row["reason"],
        detail=json.loads(row["detail"]),
    )


def count_by_state(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) FROM receipts GROUP BY state").fetchall()
    counts = {state.value: 0 for state in ReceiptState}
    counts.update({row[0]: row[1] for row in rows})
    return counts


def unfinished_by_device(conn: sqlite3.Connection) -> dict[str, int]:
    """Device id → receipts not yet fiscalized (accepted, printing, unknown) of that device."""
    rows = conn.execute(
        "SELECT device_id, count(*) FROM receipts WHERE state IN ('accepted', 'printing', 'unknown') GROUP BY device_id"
    ).fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def oldest(conn: sqlite3.Connection) -> tuple[datetime | None, datetime | None, int]:
    """Oldest not-yet-fiscalized acceptance time, oldest undelivered fiscal time, unacknowledged DLQ size."""
    not_fiscal = _first_of(conn, "created_at", ("accepted", "printing", "unknown"))
    undelivered = _first_of(conn, "fiscal_datetime", ("fiscalized", "dead"))
    dlq = conn.execute("SELECT count(*) FROM receipts WHERE state = 'dead' AND dead_acked = 0").fetchone()[0]
    return from_ts(not_fiscal), from_ts(undelivered), int(dlq)


def _first_of(conn: sqlite3.Connection, column: str, states: tuple[str, ...]) -> str | None:
    """``column`` of the oldest receipt (lowest seq) in any of ``states``: one index probe per state.

    Acceptance order is seq order, so for ``created_at`` this is the minimum; for ``fiscal_datetime`` it is
    the fiscal time of the longest-waiting receipt (receipts of one device are fiscalized in seq order).
    The health refresher asks every 2 s; a ``min()`` over the whole backlog cost 50–110 ms at 100k rows.
    """
    values = []
    for state in states:
        row = conn.execute(
            f"SELECT {column} FROM receipts WHERE state = ? ORDER BY seq LIMIT 1",  # noqa: S608 — fixed names
            (state,),
        ).fetchone()
        if row is not None and row[0] is not None:
            values.append(str(row[0]))
    return min(values, default=None)


def setting(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def for_reconcile(
    conn: sqlite3.Connection,
    device_id: str,
    fn_serial: str,
    fd_range: tuple[int, int],
    shifts: tuple[int, ...],
    fd_max: int,
) -> list[StoredReceipt]:
    """What ``kkt-adapter reconcile`` compares with one FN, read-only: the device's receipts recorded on FN
    ``fn_serial`` with an FD ≤ ``fd_max`` and either inside ``fd_range`` (inclusive) or in one of ``shifts``,
    in FD order; then the device's ``unknown`` receipts (not yet decided), oldest first."""
    marks = ",".join("?" * len(shifts)) or "NULL"
    rows = conn.execute(
        "SELECT * FROM receipts WHERE device_id = ? AND fn_serial = ? AND fd_number <= ?"  # noqa: S608 -- only '?' marks
        f" AND (fd_number BETWEEN ? AND ? OR shift_number IN ({marks})) ORDER BY fd_number",
        (device_id, fn_serial, fd_max, fd_range[0], fd_range[1], *shifts),
    ).fetchall()
    undecided = conn.execute(
        "SELECT * FROM receipts WHERE device_id = ? AND state = 'unknown' ORDER BY seq", (device_id,)
    ).fetchall()
    return [StoredReceipt.from_row(r) for r in (*rows, *undecided)]
