"""Rows of the buffer as typed, immutable records, and the time format used in the file."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem


def ts(value: datetime) -> str:
    """A UTC timestamp string that sorts as text in time order."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_ts(value: str | None) -> datetime | None:
    """Parse a timestamp written by :func:`ts` (None stays None); an aware UTC datetime."""
    if value is None:
        return None
    # fromisoformat reads the "Z" suffix (3.11+) and is ~10× faster than strptime on the intake path.
    return datetime.fromisoformat(value).astimezone(UTC)


def _req_ts(value: str) -> datetime:
    parsed = from_ts(value)
    assert parsed is not None  # noqa: S101 — the column is NOT NULL
    return parsed


@dataclass(frozen=True)
class FiscalRecord:
    """What the FN said about a fiscalized receipt."""

    fd_number: int
    fiscal_sign: int
    fiscal_datetime: datetime
    shift_number: int | None
    receipt_number: int | None
    fn_serial: str
    registration_number: str


@dataclass(frozen=True)
class StoredReceipt:
    """A receipt as the buffer holds it, with its whole lifecycle."""

    key: str
    seq: int
    device_id: str
    state: ReceiptState
    receipt: ReceiptIn
    body_hash: str
    tax_system: TaxSystem
    created_at: datetime
    updated_at: datetime
    # What the lifecycle adds; the defaults are a receipt just accepted.
    print_attempts: int = 0
    intent_last_fd: int | None = None
    intent_fn_serial: str | None = None  # the FN the intent was read from (None: not recorded)
    fd_number: int | None = None
    fiscal_sign: int | None = None
    fiscal_datetime: datetime | None = None
    shift_number: int | None = None
    receipt_number: int | None = None
    fn_serial: str | None = None
    registration_number: str | None = None
    print_incomplete: bool = False
    reject_code: int | None = None
    reject_reason: str | None = None
    sync_attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_response: str | None = None
    ofd_ticket: str | None = None
    delivered_at: datetime | None = None
    dead_reason: str | None = None
    dead_acked: bool = False
    ofd_confirmed_at: datetime | None = None  # the OFD holds its document (``buffer/ofd_confirm.py``)

    @classmethod
    def accepted(
        cls, key: str, seq: int, device_id: str, receipt: ReceiptIn, body_hash: str, tax_system: TaxSystem, at: datetime
    ) -> StoredReceipt:
        """The record of a receipt just inserted as ``accepted`` (what :meth:`from_row` would read back)."""
        return cls(key, seq, device_id, ReceiptState.ACCEPTED, receipt, body_hash, tax_system, at, at)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> StoredReceipt:
        return cls(
            key=row["key"],
            seq=row["seq"],
            device_id=row["device_id"],
            state=ReceiptState(row["state"]),
            receipt=ReceiptIn.model_validate_json(row["body"]),
            body_hash=row["body_hash"],
            tax_system=TaxSystem(row["tax_system"]),
            created_at=_req_ts(row["created_at"]),
            updated_at=_req_ts(row["updated_at"]),
            print_attempts=row["print_attempts"],
            intent_last_fd=row["intent_last_fd"],
            intent_fn_serial=row["intent_fn_serial"],
            fd_number=row["fd_number"],
            fiscal_sign=row["fiscal_sign"],
            fiscal_datetime=from_ts(row["fiscal_datetime"]),
            shift_number=row["shift_number"],
            receipt_number=row["receipt_number"],
            fn_serial=row["fn_serial"],
            registration_number=row["registration_number"],
            print_incomplete=bool(row["print_incomplete"]),
            reject_code=row["reject_code"],
            reject_reason=row["reject_reason"],
            sync_attempts=row["sync_attempts"],
            next_attempt_at=from_ts(row["next_attempt_at"]),
            last_error=row["last_error"],
            last_response=row["last_response"],
            ofd_ticket=row["ofd_ticket"],
            delivered_at=from_ts(row["delivered_at"]),
            dead_reason=row["dead_reason"],
            dead_acked=bool(row["dead_acked"]),
            ofd_confirmed_at=from_ts(row["ofd_confirmed_at"]),
        )
