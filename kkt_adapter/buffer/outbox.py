"""The OFD outbox: the FN's own messages, the OFD's answers, and their write-back into the FN.

One row per FN document, keyed by ``(fn_serial, fd_number)`` (the FN hands out the same document again
after a crash, maybe not byte for byte: identify it by the container header, never by its bytes).

::

    read ──answer──▶ answered ──FN took it──▶ written
     │ ▲                 │
     │ └──replay──┐      └──FN refused──▶ refused ──replay──▶ read
     └──────────▶ dead (DLQ, with the reason)
    any of read/answered/dead/refused ──FF39 shows the FN holds a ticket──▶ written

* ``read``: the device worker committed the FN's message (session header + container, unchanged);
  the sync claims due rows with a lease, sends them, and records the answer or a retry time.
* ``answered``: the OFD's whole answer is stored; the device worker writes it into the FN (FF32/FF33).
  Never fetched twice: only ``read`` rows are claimed.
* ``written``: the FN took the ticket and dropped the document from its queue (terminal).
* ``refused``: the FN refused the ticket, with its code and meaning: an alarm, never retried by itself.
* ``dead``: the OFD's answer was not a valid ticket for good, or attempts ran out.

Every change appends a chained event (kind ``outbox``, key :func:`event_key`). Times are written with
:func:`~kkt_adapter.buffer.records.ts`. Leases and retry times come from the caller's ``now``; a value
further in the future than the longest wait it can have (``lease_s``, ``max_wait_s``) can only come from a
wall clock stepped back after it was written, so it counts as due: nothing waits longer than its lease or
backoff when NTP corrects the clock.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from kkt_adapter.buffer.errors import IllegalTransition, NotFound
from kkt_adapter.buffer.events import EventDraft
from kkt_adapter.buffer.records import from_ts, ts
from kkt_adapter.buffer.writer import Tx


class OutboxState(StrEnum):
    """Where one FN document is in the relay."""

    READ = "read"
    ANSWERED = "answered"
    WRITTEN = "written"
    REFUSED = "refused"
    DEAD = "dead"


O = OutboxState  # noqa: E741 — short alias, as ``S`` for receipt states

ALLOWED: dict[OutboxState, frozenset[OutboxState]] = {
    O.READ: frozenset({O.ANSWERED, O.DEAD, O.WRITTEN}),
    O.ANSWERED: frozenset({O.WRITTEN, O.REFUSED}),
    O.REFUSED: frozenset({O.READ, O.WRITTEN}),
    O.DEAD: frozenset({O.READ, O.WRITTEN}),
    O.WRITTEN: frozenset(),
}


def event_key(fn_serial: str, fd_number: int) -> str:
    """The ``key`` of an outbox row's events in the chained log."""
    return f"ofd:{fn_serial}:{fd_number}"


@dataclass(frozen=True)
class OutboxMessage:
    """One FN document in the outbox."""

    fn_serial: str
    fd_number: int
    device_id: str
    doc_type: int
    message: bytes
    state: OutboxState
    read_at: datetime
    updated_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    last_error: str | None = None
    answer: bytes | None = None
    answered_at: datetime | None = None
    written_at: datetime | None = None
    refuse_code: int | None = None
    refuse_reason: str | None = None
    dead_reason: str | None = None
    dead_acked: bool = False

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxMessage:
        return cls(
            fn_serial=row["fn_serial"],
            fd_number=row["fd_number"],
            device_id=row["device_id"],
            doc_type=row["doc_type"],
            message=bytes(row["message"]),
            state=OutboxState(row["state"]),
            read_at=_at(row["read_at"]),
            updated_at=_at(row["updated_at"]),
            attempts=row["attempts"],
            next_attempt_at=from_ts(row["next_attempt_at"]),
            lease_until=from_ts(row["lease_until"]),
            last_error=row["last_error"],
            answer=None if row["answer"] is None else bytes(row["answer"]),
            answered_at=from_ts(row["answered_at"]),
            written_at=from_ts(row["written_at"]),
            refuse_code=row["refuse_code"],
            refuse_reason=row["refuse_reason"],
            dead_reason=row["dead_reason"],
            dead_acked=bool(row["dead_acked"]),
        )


def _at(value: str) -> datetime:
    """A NOT NULL timestamp column written by :func:`ts`."""
    return datetime.fromisoformat(value).astimezone(UTC)


# --- write operations (run by the writer, each atomic) --------------------------------------------------


def put(tx: Tx, device_id: str, fn_serial: str, fd_number: int, doc_type: int, message: bytes, now: datetime) -> bool:
    """Store a message read from the FN as ``read``; idempotent: False (nothing written) when
    ``(fn_serial, fd_number)`` is already stored, whatever its state or bytes."""
    stamp = ts(now)
    cursor = tx.conn.execute(
        "INSERT INTO outbox (fn_serial, fd_number, device_id, doc_type, message, state, read_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 'read', ?, ?) ON CONFLICT (fn_serial, fd_number) DO NOTHING",
        (fn_serial, fd_number, device_id, doc_type, message, stamp, stamp),
    )
    if cursor.rowcount == 0:
        return False
    detail = {"device": device_id, "doc_type": doc_type, "bytes": len(message)}
    tx.event(
        EventDraft(
            stamp, "outbox", "read from the FN", "device", event_key(fn_serial, fd_number), None, O.READ.value, detail
        )
    )
    return True


def move(
    tx: Tx,
    fn_serial: str,
    fd_number: int,
    new: OutboxState,
    now: datetime,
    reason: str,
    actor: str = "daemon",
    **columns: Any,
) -> OutboxState:
    """Move a row to ``new`` if the lifecycle allows it, setting ``columns``; log the event; the old state.

    :class:`NotFound` for an unknown row, :class:`IllegalTransition` for a move not in :data:`ALLOWED`
    (nothing written)."""
    old = _state(tx, fn_serial, fd_number)
    if new not in ALLOWED[old]:
        raise IllegalTransition(event_key(fn_serial, fd_number), old.value, new.value)
    _update(tx, fn_serial, fd_number, now, state=new.value, **columns)
    detail = {name: value for name, value in columns.items() if not isinstance(value, bytes)}
    tx.event(
        EventDraft(ts(now), "outbox", reason, actor, event_key(fn_serial, fd_number), old.value, new.value, detail)
    )
    return old


def note(tx: Tx, fn_serial: str, fd_number: int, now: datetime, reason: str, **columns: Any) -> None:
    """Change non-state columns of a row (a retry time, an acknowledgement) and log it as an event."""
    state = _state(tx, fn_serial, fd_number).value
    _update(tx, fn_serial, fd_number, now, **columns)
    tx.event(
        EventDraft(ts(now), "outbox", reason, "daemon", event_key(fn_serial, fd_number), state, state, dict(columns))
    )


def claim(tx: Tx, limit: int, lease_s: float, max_wait_s: float, now: datetime) -> list[OutboxMessage]:
    """Lease up to ``limit`` due ``read`` rows (oldest read first) until ``now + lease_s``.

    Due: no retry time or one ≤ ``now`` (or beyond ``now + max_wait_s``), and no lease or one ≤ ``now``
    (or beyond ``now + lease_s``): see the module docstring on clock steps. Leases are not events (a
    crash only lets them expire)."""
    stamp, lease_end = ts(now), ts(now + timedelta(seconds=lease_s))
    wait_end = ts(now + timedelta(seconds=max_wait_s))
    rows = tx.conn.execute(
        "UPDATE outbox SET lease_until = ? WHERE rowid IN (SELECT rowid FROM outbox WHERE state = 'read'"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ? OR next_attempt_at > ?)"
        " AND (lease_until IS NULL OR lease_until <= ? OR lease_until > ?)"
        " ORDER BY read_at, fd_number LIMIT ?) RETURNING *",
        (lease_end, stamp, wait_end, stamp, lease_end, limit),
    ).fetchall()
    return sorted((OutboxMessage.from_row(r) for r in rows), key=lambda m: (m.read_at, m.fd_number))


def _state(tx: Tx, fn_serial: str, fd_number: int) -> OutboxState:
    row = tx.conn.execute(
        "SELECT state FROM outbox WHERE fn_serial = ? AND fd_number = ?", (fn_serial, fd_number)
    ).fetchone()
    if row is None:
        raise NotFound(event_key(fn_serial, fd_number))
    return OutboxState(row[0])


def _update(tx: Tx, fn_serial: str, fd_number: int, now: datetime, **columns: Any) -> None:
    assignments = {"updated_at": ts(now), **columns}
    sql = ", ".join(f"{name} = ?" for name in assignments)
    tx.conn.execute(
        f"UPDATE outbox SET {sql} WHERE fn_serial = ? AND fd_number = ?",  # noqa: S608 — column names are ours
        (*assignments.values(), fn_serial, fd_number),
    )


# --- reads (run on the reader connection) ----------------------------------------------------------------


def get(conn: sqlite3.Connection, fn_serial: str, fd_number: int) -> OutboxMessage | None:
    row = conn.execute("SELECT * FROM outbox WHERE fn_serial = ? AND fd_number = ?", (fn_serial, fd_number)).fetchone()
    return None if row is None else OutboxMessage.from_row(row)


def answers_due(conn: sqlite3.Connection, device_id: str, fn_serial: str, limit: int) -> list[OutboxMessage]:
    """``answered`` rows of the device's FN ``fn_serial``, lowest FD first (the FN takes its queue in order)."""
    rows = conn.execute(
        "SELECT * FROM outbox WHERE state = 'answered' AND device_id = ? AND fn_serial = ? ORDER BY fd_number LIMIT ?",
        (device_id, fn_serial, limit),
    ).fetchall()
    return [OutboxMessage.from_row(r) for r in rows]


def of_state(conn: sqlite3.Connection, state: OutboxState, limit: int, offset: int = 0) -> list[OutboxMessage]:
    """Rows in ``state``, oldest read first."""
    rows = conn.execute(
        "SELECT * FROM outbox WHERE state = ? ORDER BY read_at, fd_number LIMIT ? OFFSET ?",
        (state.value, limit, offset),
    ).fetchall()
    return [OutboxMessage.from_row(r) for r in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per state (every state present, 0 when empty)."""
    found = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    return {state.value: int(found.get(state.value, 0)) for state in OutboxState}


def open_dead(conn: sqlite3.Connection) -> int:
    """``dead`` and ``refused`` rows nobody acknowledged (the relay's DLQ alarm)."""
    row = conn.execute("SELECT count(*) FROM outbox WHERE state IN ('dead', 'refused') AND dead_acked = 0").fetchone()
    return int(row[0])


def next_due(conn: sqlite3.Connection) -> datetime | None:
    """When the earliest ``read`` row becomes claimable (its retry time or lease end), None when none waits.

    A value from before a backward clock step may lie far ahead: the caller bounds its sleep anyway."""
    row = conn.execute(
        "SELECT min(max(coalesce(next_attempt_at, ''), coalesce(lease_until, ''))) FROM outbox WHERE state = 'read'"
    ).fetchone()
    if row[0] is None:
        return None
    return from_ts(row[0]) if row[0] else datetime.min.replace(tzinfo=UTC)
