"""Write operations, each a function of a :class:`~kkt_adapter.buffer.writer.Tx` run atomically by the writer.

Every state change goes through :func:`transition`, which checks the lifecycle, updates the row and
appends the chained event in the same transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kkt_adapter.buffer.errors import (
    BufferFull,
    DocumentTaken,
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    StoreError,
)
from kkt_adapter.buffer.events import ROWS_PER_INSERT, EventDraft
from kkt_adapter.buffer.records import FiscalRecord, StoredReceipt, ts
from kkt_adapter.buffer.states import PENDING, ReceiptState, check_transition
from kkt_adapter.buffer.writer import Tx
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

S = ReceiptState


def canonical_json(receipt: ReceiptIn) -> str:
    """The receipt's canonical JSON: what is stored and hashed (field order and spacing of the request do
    not matter; the ``id`` is left out: the key column holds it)."""
    return receipt.model_dump_json(exclude={"id"})


def body_hash(receipt: ReceiptIn, canonical: str | None = None) -> str:
    """SHA-256 of the receipt's canonical JSON (pass ``canonical`` when it is already made)."""
    text = canonical_json(receipt) if canonical is None else canonical
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _row(conn: sqlite3.Connection, key: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM receipts WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(key)
    return row  # type: ignore[no-any-return]


def _replay_of(tx: Tx, key: str, digest: str) -> StoredReceipt:
    """The receipt stored under ``key`` with body hash ``digest``: IdempotencyConflict for another body,
    BufferFull when nothing is stored under ``key`` (only reached with the buffer full)."""
    existing = tx.conn.execute("SELECT * FROM receipts WHERE key = ?", (key,)).fetchone()
    if existing is None:
        raise BufferFull(tx.pending, tx.capacity)
    if existing["body_hash"] != digest:
        raise IdempotencyConflict(key)
    return StoredReceipt.from_row(existing)


@dataclass(frozen=True)
class NewReceipt:
    """A receipt ready to be stored under ``key``: serialized, hashed and stamped by :meth:`prepare` before
    the writer's transaction, so that work stays off the writer's critical path."""

    key: str
    receipt: ReceiptIn
    device_id: str
    tax_system: TaxSystem
    canonical: str  # stored, and hashed into ``digest``
    digest: str
    stamp: str  # ``created_at``/``updated_at`` as stored
    at: datetime  # the stamp read back

    @classmethod
    def prepare(cls, key: str, receipt: ReceiptIn, device_id: str, tax_system: TaxSystem, now: datetime) -> NewReceipt:
        canonical = canonical_json(receipt)
        at = now.astimezone(UTC)  # what from_ts(ts(now)) reads back
        return cls(key, receipt, device_id, tax_system, canonical, body_hash(receipt, canonical), ts(at), at)


def insert_receipt(tx: Tx, new: NewReceipt) -> tuple[StoredReceipt, bool]:
    """Store a new receipt as ``accepted``, or return the existing one for a replay of the same key.

    Returns ``(receipt, created)``. The same key with a different body raises
    :class:`IdempotencyConflict`; a full buffer raises :class:`BufferFull` (only for new keys).
    """
    if tx.pending >= tx.capacity:  # full: only a replay of a stored key can be answered
        return _replay_of(tx, new.key, new.digest), False
    # A new key (the usual case) costs one statement; a stored one is read only when the insert did nothing.
    sql = f"INSERT INTO receipts ({_NEW_COLUMNS}) VALUES {_NEW_ROW} ON CONFLICT (key) DO NOTHING"  # noqa: S608
    cursor = tx.conn.execute(sql, _new_row(new))
    if cursor.rowcount == 0:
        return _replay_of(tx, new.key, new.digest), False
    seq = cursor.lastrowid
    assert seq is not None  # noqa: S101 — an INSERT into a rowid table always sets it
    return _accepted(tx, new, seq), True


def insert_receipts(tx: Tx, news: list[NewReceipt]) -> list[tuple[StoredReceipt, bool] | StoreError]:
    """:func:`insert_receipt` for many receipts, each with its own outcome (a StoreError leaves none of that
    receipt's writes). When all are new and fit — the intake's usual group — they take one statement per
    ``ROWS_PER_INSERT``: a stored key, or one key twice, makes a statement write nothing (SQLite backs a failed
    statement out whole), and then each of its receipts is stored alone."""
    outcomes: list[tuple[StoredReceipt, bool] | StoreError] = []
    for start in range(0, len(news), ROWS_PER_INSERT):
        outcomes += _insert_together(tx, news[start : start + ROWS_PER_INSERT])
    return outcomes


def _insert_together(tx: Tx, news: list[NewReceipt]) -> list[tuple[StoredReceipt, bool] | StoreError]:
    if len(news) > 1 and tx.pending + len(news) <= tx.capacity:
        values = ", ".join([_NEW_ROW] * len(news))
        rows = [value for new in news for value in _new_row(new)]
        try:
            last = tx.conn.execute(f"INSERT INTO receipts ({_NEW_COLUMNS}) VALUES {values}", rows).lastrowid  # noqa: S608
        except sqlite3.IntegrityError:
            pass
        else:
            assert last is not None  # noqa: S101 — an INSERT into a rowid table always sets it
            # one statement's rows take consecutive rowids in the order of its VALUES
            first = last - len(news) + 1
            return [(_accepted(tx, new, first + n), True) for n, new in enumerate(news)]
    outcomes: list[tuple[StoredReceipt, bool] | StoreError] = []
    for new in news:
        try:
            outcomes.append(insert_receipt(tx, new))
        except (IdempotencyConflict, BufferFull) as exc:
            outcomes.append(exc)
    return outcomes


_NEW_COLUMNS = "key, body_hash, body, device_id, tax_system, operation, total_kop, state, created_at, updated_at"
_NEW_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _new_row(new: NewReceipt) -> tuple[object, ...]:
    return (new.key, new.digest, new.canonical, new.device_id, new.tax_system.value, new.receipt.operation.value,
            new.receipt.total_kop, S.ACCEPTED.value, new.stamp, new.stamp)  # fmt: skip


def _accepted(tx: Tx, new: NewReceipt, seq: int) -> StoredReceipt:
    """The bookkeeping and event of a receipt just inserted as ``seq``, and its record — built from what was
    written rather than read back (no second query or body parse per receipt)."""
    tx.pending += 1
    tx.event(EventDraft(new.stamp, "transition", "received from the POS", "api", new.key, None, S.ACCEPTED.value))
    return StoredReceipt.accepted(new.key, seq, new.device_id, new.receipt, new.digest, new.tax_system, new.at)


def transition(
    tx: Tx,
    key: str,
    new: ReceiptState,
    now: datetime,
    reason: str,
    actor: str = "daemon",
    expect: frozenset[ReceiptState] | None = None,
    **columns: Any,
) -> StoredReceipt:
    """Move ``key`` to ``new`` (if the lifecycle allows it), setting ``columns``; log the event."""
    apply_transition(tx, key, new, now, reason, actor, expect, **columns)
    return StoredReceipt.from_row(_row(tx.conn, key))


def apply_transition(
    tx: Tx,
    key: str,
    new: ReceiptState,
    now: datetime,
    reason: str,
    actor: str = "daemon",
    expect: frozenset[ReceiptState] | None = None,
    operator: bool = False,
    **columns: Any,
) -> ReceiptState:
    """:func:`transition` without reading the row back: the same lifecycle check, update and chained
    event; returns the previous state. For bulk callers that do not use the record (no body parse)."""
    found = tx.conn.execute("SELECT state FROM receipts WHERE key = ?", (key,)).fetchone()
    if found is None:
        raise NotFound(key)
    old = ReceiptState(found[0])
    if expect is not None and old not in expect:
        raise IllegalTransition(key, old.value, new.value)
    check_transition(key, old, new, operator)
    stamp = ts(now)
    assignments = {"state": new.value, "updated_at": stamp, **columns}
    sql = ", ".join(f"{name} = ?" for name in assignments)
    try:
        tx.conn.execute(f"UPDATE receipts SET {sql} WHERE key = ?", (*assignments.values(), key))  # noqa: S608
    except sqlite3.IntegrityError as exc:  # the unique (fn_serial, fd_number): never leaves the buffer as such
        raise DocumentTaken(key, columns.get("fn_serial"), columns.get("fd_number")) from exc
    tx.pending += (new in PENDING) - (old in PENDING)
    detail = {name: value for name, value in columns.items() if name not in ("last_response",)}
    tx.event(EventDraft(stamp, "transition", reason, actor, key, old.value, new.value, detail))
    return old


def fiscal_columns(record: FiscalRecord) -> dict[str, Any]:
    """Columns that store what the FN said."""
    return {
        "fd_number": record.fd_number,
        "fiscal_sign": record.fiscal_sign,
        "fiscal_datetime": ts(record.fiscal_datetime),
        "shift_number": record.shift_number,
        "receipt_number": record.receipt_number,
        "fn_serial": record.fn_serial,
        "registration_number": record.registration_number,
        "next_attempt_at": None,
        "lease_until": None,
    }


def set_flag(tx: Tx, key: str, now: datetime, reason: str, **columns: Any) -> StoredReceipt:
    """Change non-state columns of a receipt (e.g. ``print_incomplete``) and log it as an event."""
    row = _row(tx.conn, key)
    stamp = ts(now)
    assignments = {"updated_at": stamp, **columns}
    sql = ", ".join(f"{name} = ?" for name in assignments)
    try:
        tx.conn.execute(f"UPDATE receipts SET {sql} WHERE key = ?", (*assignments.values(), key))  # noqa: S608
    except sqlite3.IntegrityError as exc:  # the unique (fn_serial, fd_number): never leaves the buffer as such
        raise DocumentTaken(key, columns.get("fn_serial"), columns.get("fd_number")) from exc
    tx.event(EventDraft(stamp, "update", reason, "daemon", key, row["state"], row["state"], dict(columns)))
    return StoredReceipt.from_row(_row(tx.conn, key))


def audit(tx: Tx, action: str, actor: str, detail: dict[str, Any], now: datetime, key: str | None = None) -> None:
    """Record a security-relevant action in the chained log."""
    tx.event(EventDraft(ts(now), "audit", action, actor, key, detail=detail))


def put_setting(tx: Tx, name: str, value: str, actor: str, now: datetime) -> None:
    """Persist a setting (e.g. the sync pause switch) and audit the change."""
    stamp = ts(now)
    tx.conn.execute(
        "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (name, value, stamp),
    )
    tx.event(EventDraft(stamp, "audit", f"setting {name}", actor, detail={"value": value}))


def note_fn(tx: Tx, device_id: str, fn_serial: str, now: datetime) -> str | None:
    """Remember the FN serial ``device_id`` holds; when it differs from the one remembered, audit
    "FN replaced: old → new" and return the old serial (None: the same FN, or the first one seen)."""
    name = f"pipeline.fn_serial.{device_id}"
    row = tx.conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
    old = None if row is None else str(row[0])
    if old == fn_serial:
        return None
    stamp = ts(now)
    tx.conn.execute(
        "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (name, fn_serial, stamp),
    )
    if old is not None:
        detail = {"device": device_id, "old_fn": old, "new_fn": fn_serial}
        tx.event(EventDraft(stamp, "audit", f"FN replaced: {old} → {fn_serial}", "daemon", detail=detail))
    return old


def increment(tx: Tx, key: str, column: str) -> int:
    """The receipt's counter ``column`` plus one (1 for a missing row), for the same operation's update."""
    row = tx.conn.execute(f"SELECT {column} FROM receipts WHERE key = ?", (key,)).fetchone()  # noqa: S608
    return int(row[0]) + 1 if row else 1


def claim(tx: Tx, limit: int, lease_until: str, now: str, wait_end: str | None = None) -> list[StoredReceipt]:
    """Lease up to ``limit`` due ``fiscalized`` receipts until ``lease_until``, oldest first (one statement).

    A lease ending after ``lease_until`` or a retry time after ``wait_end`` was written before a backward
    clock step and counts as due (see :meth:`kkt_adapter.buffer.store.Store.claim_for_sync`).
    """
    rows = tx.conn.execute(
        "UPDATE receipts SET lease_until = ? WHERE seq IN (SELECT seq FROM receipts WHERE state = 'fiscalized'"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ? OR next_attempt_at > ?)"
        " AND (lease_until IS NULL OR lease_until <= ? OR lease_until > ?)"
        " ORDER BY seq LIMIT ?) RETURNING *",
        (lease_until, now, wait_end or "9999", now, lease_until, limit),  # "9999" sorts after every stamp
    ).fetchall()
    return sorted((StoredReceipt.from_row(r) for r in rows), key=lambda r: r.seq)


def release_leases(tx: Tx, keys: list[str]) -> None:
    """End the sync leases of ``keys`` (fiscalized rows only; a lease is not an event)."""
    marks = ",".join("?" * len(keys))
    tx.conn.execute(
        f"UPDATE receipts SET lease_until = NULL WHERE state = 'fiscalized' AND key IN ({marks})",  # noqa: S608
        keys,
    )


def deliver(tx: Tx, key: str, ticket: str, now: datetime) -> None:
    """fiscalized → delivered with the HQ export endpoint's ticket (the optional export, not the OFD: the OFD's
    confirmation is ``ofd_confirmed_at``, :mod:`.ofd_confirm`); a receipt already delivered is left as it is."""
    row = tx.conn.execute("SELECT state FROM receipts WHERE key = ?", (key,)).fetchone()
    if row is not None and row[0] == S.DELIVERED.value:
        return
    columns: dict[str, Any] = {
        "ofd_ticket": ticket,
        "delivered_at": ts(now),
        "lease_until": None,
        "next_attempt_at": None,
    }
    apply_transition(tx, key, S.DELIVERED, now, "confirmed by the HQ export endpoint", "sync", **columns)


def deliver_many(tx: Tx, tickets: list[tuple[str, str]], now: datetime) -> list[str]:
    """:func:`deliver` for each ``(key, ticket)``; the keys skipped (missing or not ``fiscalized``)."""
    skipped: list[str] = []
    for key, ticket in tickets:
        try:
            deliver(tx, key, ticket, now)
        except (NotFound, IllegalTransition):  # raised before anything of this key was written
            skipped.append(key)
    return skipped


def resend_delivered(tx: Tx, key: str, actor: str, reason: str, now: datetime) -> None:
    """delivered → fiscalized (an operator-only edge) under the same document id, attempts reset, audited:
    the OFD does not hold a document the buffer took as delivered. :class:`IllegalTransition` otherwise."""
    apply_transition(
        tx,
        key,
        S.FISCALIZED,
        now,
        f"resend: {reason}",
        actor=actor,
        expect=frozenset({S.DELIVERED}),
        operator=True,
        sync_attempts=0,
        next_attempt_at=None,
        lease_until=None,
    )
    audit(tx, "export resend", actor, {"key": key, "reason": reason}, now, key)


def move_accepted(tx: Tx, from_device: str, to_device: str, actor: str, now: datetime) -> list[str]:
    """Every ``accepted`` receipt of ``from_device`` now belongs to ``to_device`` (one chained event each,
    audited); the keys moved. Receipts in ``printing``/``unknown`` stay: only their own FN can decide them."""
    keys = [
        str(r[0])
        for r in tx.conn.execute(
            "SELECT key FROM receipts WHERE device_id = ? AND state = 'accepted' ORDER BY seq", (from_device,)
        ).fetchall()
    ]
    stamp = ts(now)
    for key in keys:
        tx.conn.execute("UPDATE receipts SET device_id = ?, updated_at = ? WHERE key = ?", (to_device, stamp, key))
        detail = {"from_device": from_device, "to_device": to_device}
        tx.event(EventDraft(stamp, "audit", "receipt moved to another device", actor, key, detail=detail))
    audit(tx, "orphans move", actor, {"from_device": from_device, "to_device": to_device, "count": len(keys)}, now)
    return keys


def reject_accepted(tx: Tx, device: str, actor: str, reason: str, now: datetime) -> list[str]:
    """Every ``accepted`` receipt of ``device`` → ``rejected`` with ``reason`` (an operator-only edge; never
    printed), audited; the keys rejected."""
    keys = [
        str(r[0])
        for r in tx.conn.execute(
            "SELECT key FROM receipts WHERE device_id = ? AND state = 'accepted' ORDER BY seq", (device,)
        ).fetchall()
    ]
    for key in keys:
        apply_transition(
            tx, key, S.REJECTED, now, reason, actor=actor, expect=frozenset({S.ACCEPTED}), operator=True,
            reject_reason=reason,
        )  # fmt: skip
    audit(tx, "orphans reject", actor, {"device": device, "count": len(keys), "reason": reason}, now)
    return keys


DEAD_ONLY = frozenset({S.DEAD})
REPLAY_RESET: dict[str, Any] = {"sync_attempts": 0, "next_attempt_at": None, "lease_until": None, "dead_acked": 0}


def replay_dead(tx: Tx, key: str | None, actor: str, now: datetime, include_acknowledged: bool = False) -> int:
    """dead → fiscalized for ``key`` (or every dead receipt not acknowledged, all with
    ``include_acknowledged``), attempts reset, audited; the count."""
    if key is None:
        acked = "" if include_acknowledged else " AND dead_acked = 0"
        sql = f"SELECT key FROM receipts WHERE state = 'dead'{acked} ORDER BY seq"  # noqa: S608 - fixed text
        keys = [r[0] for r in tx.conn.execute(sql).fetchall()]
    else:
        keys = [key]
    for one in keys:
        transition(tx, one, S.FISCALIZED, now, "replayed by an operator", actor, DEAD_ONLY, **REPLAY_RESET)
    detail = {"key": key, "count": len(keys), "include_acknowledged": include_acknowledged}
    audit(tx, "dlq replay", actor, detail, now, key)
    return len(keys)
