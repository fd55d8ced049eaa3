"""Typed results of a fiscal device, for every family (the interface: :class:`kkt_adapter.kkt.device.KktDevice`).

Family-neutral: nothing here is Shtrih-specific. Dates and times read from the device are naive local
times of the device's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum


class Mode(IntEnum):
    """Low nibble of the mode byte (10h/11h)."""

    WORKING = 0
    DATA_OUTPUT = 1
    SHIFT_OPEN = 2
    SHIFT_EXPIRED = 3
    SHIFT_CLOSED = 4
    BLOCKED = 5
    WAIT_DATE = 6
    OPEN_DOCUMENT = 8
    TECH_RESET = 9
    TEST_RUN = 10
    FULL_REPORT = 11
    LONG_REPORT = 12


class SubMode(IntEnum):
    """Sub-mode byte: the paper and printing state."""

    PAPER_OK = 0
    PAPER_OUT_PASSIVE = 1
    PAPER_OUT_ACTIVE = 2
    WAIT_CONTINUE = 3
    PRINTING_REPORT = 4
    PRINTING = 5


@dataclass(frozen=True)
class DeviceInfo:
    """What the device is (FCh, 11h, FF02) and how it is registered."""

    model_name: str
    serial: str
    fn_serial: str
    registration_number: str
    inn: str


@dataclass(frozen=True)
class DeviceStatus:
    """Short status (10h) plus the flags the cashier cares about."""

    mode: Mode
    mode_status: int  # high nibble: for mode 8 the open document's type
    sub_mode: SubMode
    flags: int
    cover_open: bool
    paper_present: bool


@dataclass(frozen=True)
class FiscalResult:
    """A fiscalized receipt as the FN signed it (tags 1040, 1077, 1012, 1038, 1042)."""

    fd_number: int
    fiscal_sign: int
    fiscal_datetime: datetime
    shift_number: int
    receipt_number: int
    change_kop: int


@dataclass(frozen=True)
class FnStatus:
    """FF01: life phase, current document, shift flag, warning bits, FN serial, last FD number."""

    phase: int
    current_document: int
    shift_open: bool
    warnings: int
    fn_datetime: datetime
    fn_serial: str
    last_fd_number: int


@dataclass(frozen=True)
class FnExpiry:
    """FF03: the FN's expiry date and re-registrations left."""

    expires_on: date
    reregistrations_left: int
    reregistrations_done: int


@dataclass(frozen=True)
class ExchangeStatus:
    """FF39: the OFD backlog inside the FN."""

    status_bits: int
    unsent_count: int
    first_unsent_number: int
    first_unsent_at: datetime | None


@dataclass(frozen=True)
class OfdLink:
    """The KKT's own OFD settings (Shtrih: table 21 field 2, table 19 fields 1–2); None where unreadable.

    ``exchange_mode``: 0 = the host relays the FN's messages, 1 = the KKT's own network (javapos
    ``FiscalPrinterImpl.setPrinterFDOMode``); any other value is not documented.
    """

    exchange_mode: int | None
    host: str | None
    port: int | None


@dataclass(frozen=True)
class ShiftParams:
    """FF40: shift state, shift number, number of the next receipt in the shift."""

    is_open: bool
    shift_number: int
    receipt_number: int


@dataclass(frozen=True)
class FnDocument:
    """FF0A: one document of the FN archive. ``operation`` and ``sum_kop`` only for receipts (type 3)."""

    doc_type: int
    ticket_received: bool
    fd_number: int
    fiscal_sign: int
    doc_datetime: datetime
    operation: int | None
    sum_kop: int | None
    shift_number: int | None
