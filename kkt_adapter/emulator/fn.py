"""The simulated fiscal storage (FN): fiscal signs, the archive, the OFD queue, the 30-day block.

Pure functions of an :class:`EmulatorState` and ``now``; the caller persists the state.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from kkt_adapter.emulator.state import EmulatorState, FnDocument

BLOCK_AFTER = timedelta(days=30)
OFD_WARN_AFTER = timedelta(days=1)  # FF01 warning bit 3, an emulator choice (the FN's rule is not public)


def fiscal_sign(key: str, fn_serial: str, fd_number: int, at: datetime, sum_kop: int) -> int:
    """Deterministic fiscal sign: the first 4 bytes (big-endian) of HMAC-SHA256 over the document."""
    message = f"{fn_serial}|{fd_number}|{at.strftime('%Y-%m-%dT%H:%M')}|{sum_kop}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big")


def sign_document(
    state: EmulatorState,
    doc_type: int,
    now: datetime,
    *,
    operation: int | None = None,
    sum_kop: int | None = None,
) -> FnDocument:
    """Sign a new document: next FD number, fiscal sign, archive entry, queued for the OFD."""
    at = now.replace(second=0, microsecond=0)
    fd_number = state.last_fd + 1
    sign = fiscal_sign(state.config.sign_key, state.config.fn_serial, fd_number, at, sum_kop or 0)
    doc = FnDocument(
        fd_number=fd_number,
        doc_type=doc_type,
        at=at,
        fiscal_sign=sign,
        shift_number=state.shift_number,
        operation=operation,
        sum_kop=sum_kop,
    )
    state.documents.append(doc)
    state.last_fd = fd_number
    return doc


def oldest_unconfirmed(state: EmulatorState) -> FnDocument | None:
    """The first document in the OFD queue, if any."""
    return next((doc for doc in state.documents if doc.ticket_at is None), None)


def is_blocked(state: EmulatorState, now: datetime) -> bool:
    """True when the oldest unconfirmed document is more than 30 days old."""
    oldest = oldest_unconfirmed(state)
    return oldest is not None and now - oldest.at > BLOCK_AFTER


def warning_bits(state: EmulatorState, now: datetime) -> int:
    """FF01 warnings: b0 expiry ≤3 days, b1 expiry ≤30 days, b3 oldest unconfirmed > 1 day."""
    days_left = (state.fn_expires_on - now.date()).days
    bits = 0
    if days_left <= 3:
        bits |= 0x01
    if days_left <= 30:
        bits |= 0x02
    oldest = oldest_unconfirmed(state)
    if oldest is not None and now - oldest.at > OFD_WARN_AFTER:
        bits |= 0x08
    return bits


def confirm_up_to(state: EmulatorState, fd_number: int, now: datetime) -> int:
    """Record OFD tickets for every unconfirmed document with FD ≤ ``fd_number``; return how many."""
    count = 0
    for doc in state.documents:
        if doc.fd_number <= fd_number and doc.ticket_at is None:
            doc.ticket_at = now
            count += 1
    return count


def ofd_ticket(state: EmulatorState, doc: FnDocument) -> bytes:
    """FF3C ticket bytes (emulator-defined layout): ticket date-time YMDhm, FD number LE, 6-byte OFD sign."""
    assert doc.ticket_at is not None  # noqa: S101 - callers check ticket_received first
    at = doc.ticket_at
    sign = hmac.new(state.config.sign_key.encode(), f"ofd|{doc.fd_number}".encode(), hashlib.sha256)
    head = bytes([at.year % 100, at.month, at.day, at.hour, at.minute])
    return head + doc.fd_number.to_bytes(4, "little") + sign.digest()[:6]
