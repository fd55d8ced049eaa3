"""The append-only event log: every state change and every audited action, hash-chained.

Each row stores ``hash = sha256(prev_hash ‖ canonical JSON of the row's fields)`` and the previous
row's hash, so editing, deleting or reordering any row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    """One row of the event log."""

    seq: int
    at: datetime
    kind: str  # "transition" or "audit"
    key: str | None
    from_state: str | None
    to_state: str | None
    actor: str
    reason: str
    detail: dict[str, Any]


def row_hash(
    prev_hash: str,
    at: str,
    kind: str,
    key: str | None,
    from_state: str | None,
    to_state: str | None,
    actor: str,
    reason: str,
    detail: str,
) -> str:
    """The chain hash of one event row."""
    payload = json.dumps(
        [at, kind, key, from_state, to_state, actor, reason, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def last_hash(conn: sqlite3.Connection) -> str:
    """The hash of the newest event, or the genesis value for an empty log."""
    row = conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return str(row[0]) if row else GENESIS


@dataclass(frozen=True)
class EventDraft:
    """One event before it is chained: when (the stored ISO stamp), what kind, why, by whom, and — for a
    receipt or outbox row — its key and the states it went from and to; ``detail`` is JSON-ready."""

    at: str
    kind: str
    reason: str
    actor: str = "daemon"
    key: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    detail: dict[str, Any] | None = None


EventRow = tuple[str, str, str | None, str | None, str | None, str, str, str, str, str]
_COLUMNS = "at, kind, key, from_state, to_state, actor, reason, detail, prev_hash, hash, receipt_seq"
# the receipt's seq (schema migration 7) is looked up by the key: NULL for events of no receipt
_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT seq FROM receipts WHERE key = ?))"
# Rows per multi-row INSERT. The sqlite3 module caches each distinct statement text with its last bound
# values: at most this many shapes, each of at most this many rows (400 made the drain's RSS grow by 40 MB).
ROWS_PER_INSERT = 32


def chained(prev_hash: str, draft: EventDraft) -> EventRow:
    """The row of ``draft`` chained to ``prev_hash`` (its hash is the row's last column)."""
    d = draft
    detail_json = json.dumps(d.detail, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if d.detail else "{}"
    columns = (d.at, d.kind, d.key, d.from_state, d.to_state, d.actor, d.reason, detail_json)
    return (*columns, prev_hash, row_hash(prev_hash, *columns))


def insert_rows(conn: sqlite3.Connection, rows: list[EventRow]) -> int:
    """Insert chained rows in order (inside the caller's transaction), ``ROWS_PER_INSERT`` per statement;
    return the ``seq`` of the last one."""
    seq = 0
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        values = ", ".join([_ROW] * len(chunk))
        flat = [value for row in chunk for value in (*row, row[2])]
        cursor = conn.execute(f"INSERT INTO events ({_COLUMNS}) VALUES {values}", flat)  # noqa: S608 — placeholders
        seq = int(cursor.lastrowid or 0)
    return seq


RESTART_REASON = "audit chain restarted at a break"


@dataclass(frozen=True)
class ChainVerdict:
    """Result of :func:`verify_chain`: the rows checked and the first broken one, if any.

    ``restarted``: the breaks an admin acknowledged with a chain restart (see :func:`acknowledged_breaks`),
    which the walk accepted.
    """

    checked: int
    broken_seq: int | None
    problem: str | None
    head_seq: int = 0
    restarted: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def acknowledged_breaks(conn: sqlite3.Connection) -> dict[int, str]:
    """Breaks acknowledged by an audited chain restart: event seq → the row hash the admin saw there."""
    found: dict[int, str] = {}
    for (detail,) in conn.execute("SELECT detail FROM events WHERE kind = 'audit' AND reason = ?", (RESTART_REASON,)):
        data = json.loads(detail)
        if isinstance(data.get("at_seq"), int) and isinstance(data.get("row_hash"), str):
            found[data["at_seq"]] = data["row_hash"]
    return found


def verify_chain(conn: sqlite3.Connection, after: tuple[int, str] | None = None) -> ChainVerdict:
    """Recompute every hash in order; name the first row whose link or content does not match.

    With ``after=(seq, hash)`` only the rows after ``seq`` are walked, from that known-good point (the
    row ``seq`` itself must still hold ``hash``). A break acknowledged by a chain restart is accepted.
    """
    acknowledged = acknowledged_breaks(conn)
    expected_prev, checked, head = GENESIS, 0, 0
    restarted: list[int] = []
    start = 0
    if after is not None:
        start, expected_prev = after
        row = conn.execute("SELECT hash FROM events WHERE seq = ?", (start,)).fetchone() if start else None
        if start and (row is None or row[0] != expected_prev):
            return ChainVerdict(0, start, "an event verified earlier is missing or changed", start)
        head = start
    cursor = conn.execute(
        "SELECT seq, at, kind, key, from_state, to_state, actor, reason, detail, prev_hash, hash"
        " FROM events WHERE seq > ? ORDER BY seq",
        (start,),
    )
    for row in cursor:
        seq, at, kind, key, from_state, to_state, actor, reason, detail, prev_hash, digest = tuple(row)
        checked, head = checked + 1, seq
        problem = None
        if prev_hash != expected_prev:
            problem = "link to the previous row is broken (row deleted or inserted?)"
        elif row_hash(prev_hash, at, kind, key, from_state, to_state, actor, reason, detail) != digest:
            problem = "row content does not match its hash (row edited?)"
        if problem is not None:
            if acknowledged.get(seq) != digest:
                cursor.close()
                return ChainVerdict(checked, seq, problem, seq, tuple(restarted))
            restarted.append(seq)
        expected_prev = digest
    return ChainVerdict(checked, None, None, head, tuple(restarted))
