"""Write operations, each a function of a :class:`~kkt_adapter.buffer.writer.Tx` run atomically by the writer.

Every state change goes through :func:`transition`, which checks the lifecycle, updates the row and
appends the chained event in the same transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from enum import IntEnum
from typing import Any

from kkt_adapter.buffer.errors import BufferFull, IdempotencyConflict, IllegalTransition, NotFound
from kkt_adapter.buffer.records import FiscalRecord, StoredReceipt, from_ts, ts
from kkt_adapter.buffer.states import PENDING, ReceiptState, check_transition
from kkt_adapter.buffer.writer import Tx
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

S = ReceiptState


def body_hash(receipt: ReceiptIn) -> str:
    """SHA-256 of the receipt's canonical JSON (field order and spacing of the request do not matter)."""
    return hashlib.sha256(receipt.model_dump_json(exclude={"id"}).encode("utf-8")).hexdigest()


def _row(conn: sqlite3.Connection, key: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM receipts WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(key)
    return row  # type: ignore[no-any-return]


def insert_receipt(
    tx: Tx, key: str, receipt: ReceiptIn, device_id: str, tax_system: TaxSystem, now: datetime
) -> tuple[StoredReceipt, bool]:
    """Store a new receipt as ``accepted``, or return the existing one for a replay of the same key.

    Returns ``(receipt, created)``. The same key with a different body raises
    :class:`IdempotencyConflict`; a full buffer raises :class:`BufferFull` (only for new keys).
    """
    digest = body_hash(receipt)
    existing = tx.conn.execute("SELECT * FROM receipts WHERE key = ?", (key,)).fetchone()
    if existing is not None:
        if existing["body_hash"] != digest:
            raise IdempotencyConflict(key)
        return StoredReceipt.from_row(existing), False
    if tx.pending >= tx.capacity:
        raise BufferFull(tx.pending, tx.capacity)
    stamp = ts(now)
    cursor = tx.conn.execute(
        "INSERT INTO receipts (key, body_hash, body, device_id, tax_system, operation, total_kop, state,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key,
            digest,
            receipt.model_dump_json(),
            device_id,
            tax_system.value,
            receipt.operation.value,
            receipt.total_kop,
            S.ACCEPTED.value,
            stamp,
            stamp,
        ),
    )
    tx.pending += 1
    tx.event(stamp, "transition", key, None, S.ACCEPTED.value, "api", "received from the POS")
    seq = cursor.lastrowid
    assert seq is not None  # noqa: S101 — an INSERT into a rowid table always sets it
    # Built from what was just written rather than read back: no second query or body parse per receipt.
    return StoredReceipt.accepted(key, seq, device_id, receipt, digest, tax_system, from_ts(stamp) or now), True


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
    check_transition(key, old, new)
    stamp = ts(now)
    assignments = {"state": new.value, "updated_at": stamp, **columns}
    sql = ", ".join(f"{name} = ?" for name in assignments)
    tx.conn.execute(f"UPDATE receipts SET {sql} WHERE key = ?", (*assignments.values(), key))  # noqa: S608
    tx.pending += (new in PENDING) - (old in PENDING)
    detail = {name: value for name, value in columns.items() if name not in ("last_response",)}
    tx.event(stamp, "transition", key, old.value, new.value, actor, reason, detail)
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
    tx.conn.execute(f"UPDATE receipts SET {sql} WHERE key = ?", (*assignments.values(), key))  # noqa: S608
    tx.event(stamp, "update", key, row["state"], row["state"], "daemon", reason, dict(columns))
    return StoredReceipt.from_row(_row(tx.conn, key))


def audit(tx: Tx, action: str, actor: str, detail: dict[str, Any], now: datetime, key: str | None = None) -> None:
    """Record a security-relevant action in the chained log."""
    tx.event(ts(now), "audit", key, None, None, actor, action, detail)


def put_setting(tx: Tx, name: str, value: str, actor: str, now: datetime) -> None:
    """Persist a setting (e.g. the sync pause switch) and audit the change."""
    stamp = ts(now)
    tx.conn.execute(
        "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (name, value, stamp),
    )
    tx.event(stamp, "audit", None, None, None, actor, f"setting {name}", {"value": value})


class FnAck(IntEnum):
    """The ``fn_ack`` column: is the OFD's ticket of a delivered receipt written into the FN."""

    PENDING = 0
    WRITTEN = 1
    REFUSED = 2  # the FN refused it for good (and holds no ticket): not retried


def set_fn_ack(tx: Tx, key: str, value: FnAck, now: datetime, reason: str) -> StoredReceipt:
    """Record the ticket write-back of a ``delivered`` receipt (an "update" event with ``reason``);
    :class:`IllegalTransition` for a receipt in any other state."""
    state = _row(tx.conn, key)["state"]
    if state != S.DELIVERED.value:
        raise IllegalTransition(key, state, f"fn_ack={int(value)}")
    return set_flag(tx, key, now, reason, fn_ack=int(value))
