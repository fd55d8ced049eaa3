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


def append(
    conn: sqlite3.Connection,
    prev_hash: str,
    at: str,
    kind: str,
    key: str | None,
    from_state: str | None,
    to_state: str | None,
    actor: str,
    reason: str,
    detail: dict[str, Any] | None = None,
) -> str:
    """Insert one event chained to ``prev_hash`` (inside the caller's transaction); return its hash."""
    detail_json = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = row_hash(prev_hash, at, kind, key, from_state, to_state, actor, reason, detail_json)
    conn.execute(
        "INSERT INTO events (at, kind, key, from_state, to_state, actor, reason, detail, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, kind, key, from_state, to_state, actor, reason, detail_json, prev_hash, digest),
    )
    return digest


@dataclass(frozen=True)
class ChainVerdict:
    """Result of :func:`verify_chain`: the rows checked and the first broken one, if any."""

    checked: int
    broken_seq: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify_chain(conn: sqlite3.Connection) -> ChainVerdict:
    """Recompute every hash in order; name the first row whose link or content does not match."""
    expected_prev = GENESIS
    checked = 0
    cursor = conn.execute(
        "SELECT seq, at, kind, key, from_state, to_state, actor, reason, detail, prev_hash, hash"
        " FROM events ORDER BY seq"
    )
    for row in cursor:
        seq, at, kind, key, from_state, to_state, actor, reason, detail, prev_hash, digest = tuple(row)
        checked += 1
        if prev_hash != expected_prev:
            cursor.close()
            return ChainVerdict(checked, seq, "link to the previous row is broken (row deleted or inserted?)")
        if row_hash(prev_hash, at, kind, key, from_state, to_state, actor, reason, detail) != digest:
            cursor.close()
            return ChainVerdict(checked, seq, "row content does not match its hash (row edited?)")
        expected_prev = digest
    return ChainVerdict(checked, None, None)
