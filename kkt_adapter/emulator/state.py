"""The emulated device's persistent state, and its JSON file.

Everything a real KKT keeps across a power cycle lives in :class:`EmulatorState`: the identity of the
device and its FN, the shift, the open receipt, the FN archive with OFD ticket flags, the "paper copy
incomplete" flag and the clock offset. :func:`save_state` writes it atomically (temp file, fsync,
rename, fsync of the directory), so a crash leaves either the old or the new file, never a torn one.
Times are naive datetimes of the device's own clock (like a real KKT's).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1

DOC_SHIFT_OPEN = 2
DOC_RECEIPT = 3
DOC_SHIFT_CLOSE = 5
DOC_SETTLEMENT_REPORT = 21


@dataclass(frozen=True)
class DeviceConfig:
    """Identity of the emulated KKT and its FN; fixed when the state file is first created."""

    fn_serial: str = "9999078900012345"
    registration_number: str = "0000000001012345"
    kkt_serial: int = 12345678
    inn: str = "7700000001"
    fn_expires_on: date | None = None  # None: 36 months after the state is created
    sign_key: str = "kkt-adapter-emulator"  # HMAC key of the fiscal signs
    tax_systems: int = 0x01  # FF09 taxation systems bitmask (b0 ОСН, b1 УСН income, …)
    tax_rows: int = 12  # rows the tax table holds (10: firmware before the 2026 rates)
    vat20_mode: int = 2  # table 17 field 71: 1 = row 1 becomes 22 % from 2026, 2 = as given (tax_table.py)
    tax_mode: int = 0  # table 1 field 14: 0 = the KKT computes the taxes, 1 = the software sends them
    ofd_exchange_mode: int = 0  # table 21 field 2: 0 = through the host (relay), 1 = the KKT's own network
    ofd_server: str = ""  # table 19 field 1 (64-byte string)
    ofd_port: int = 0  # table 19 field 2 (2-byte integer)


@dataclass
class FnDocument:
    """One FN archive entry. ``operation``/``sum_kop`` only for receipts (type 3)."""

    fd_number: int
    doc_type: int
    at: datetime
    fiscal_sign: int
    shift_number: int
    operation: int | None = None
    sum_kop: int | None = None
    ticket_at: datetime | None = None
    ofd_ticket: str | None = None  # the OFD's ticket id when it was written by FF32/FF33 (not by ofd_ack)
    lines: tuple[ReceiptLine, ...] = ()  # a receipt's lines as the FN signed them

    @property
    def ticket_received(self) -> bool:
        """True once the OFD's ticket for this document is in the FN."""
        return self.ticket_at is not None


@dataclass(frozen=True)
class ReceiptLine:
    """One registered item: quantity in millionths, money in kopecks, the FF46 tax byte, the tax-table row the
    firmware fiscalized it at (``tax_table.ROWS``; 0 for 80h lines), its tag 2108 measure once FF4D sent one."""

    name: str
    quantity_micro: int
    price_kop: int
    sum_kop: int
    tax: int
    row: int = 0
    measure: int | None = None


@dataclass
class OpenReceipt:
    """The receipt being built: type 0 sale, 1 purchase, 2 sale return, 3 purchase return."""

    receipt_type: int
    lines: list[ReceiptLine] = field(default_factory=list)

    @property
    def total_kop(self) -> int:
        """Sum of the line amounts."""
        return sum(line.sum_kop for line in self.lines)


@dataclass
class EmulatorState:
    """All persistent state of one emulated device."""

    config: DeviceConfig
    fn_expires_on: date
    registered_at: datetime
    last_fd: int = 0
    kkt_doc_no: int = 0
    shift_number: int = 0  # the open shift's number, or the last closed one
    shift_open: bool = False
    shift_opened_at: datetime | None = None
    receipts_in_shift: int = 0
    receipt: OpenReceipt | None = None
    cash_kop: int = 0
    print_interrupted: bool = False  # a signed document's paper copy is incomplete (B0 needed)
    clock_offset_s: float = 0.0
    documents: list[FnDocument] = field(default_factory=list)

    def unconfirmed(self) -> list[FnDocument]:
        """Documents still waiting for an OFD ticket, oldest first."""
        return [doc for doc in self.documents if doc.ticket_at is None]

    def find(self, fd_number: int) -> FnDocument | None:
        """The archive entry with this FD number, if any."""
        if 1 <= fd_number <= len(self.documents):
            doc = self.documents[fd_number - 1]
            if doc.fd_number == fd_number:
                return doc
        return next((doc for doc in self.documents if doc.fd_number == fd_number), None)


def new_state(config: DeviceConfig, now: datetime) -> EmulatorState:
    """A fresh, registered device with a closed shift and an empty FN archive."""
    expires = config.fn_expires_on or (now.date() + timedelta(days=3 * 365))
    return EmulatorState(config=config, fn_expires_on=expires, registered_at=now.replace(second=0, microsecond=0))


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not serializable: {type(value).__name__}")


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def state_to_json(state: EmulatorState) -> str:
    """Serialize ``state`` to JSON text."""
    data = asdict(state)
    data["format"] = FORMAT_VERSION
    return json.dumps(data, default=_encode, ensure_ascii=False, separators=(",", ":"))


def state_from_json(text: str) -> EmulatorState:
    """Parse JSON written by :func:`state_to_json`; raise ``ValueError`` on an unknown format."""
    data = json.loads(text)
    if data.pop("format", None) != FORMAT_VERSION:
        raise ValueError("unknown emulator state format")
    cfg = data.pop("config")
    expires = cfg.get("fn_expires_on")
    cfg["fn_expires_on"] = None if expires is None else date.fromisoformat(expires)
    receipt = data.pop("receipt")
    docs = data.pop("documents")
    return EmulatorState(
        config=DeviceConfig(**cfg),
        fn_expires_on=date.fromisoformat(data.pop("fn_expires_on")),
        registered_at=datetime.fromisoformat(data.pop("registered_at")),
        shift_opened_at=_dt(data.pop("shift_opened_at")),
        receipt=None
        if receipt is None
        else OpenReceipt(receipt["receipt_type"], [ReceiptLine(**line) for line in receipt["lines"]]),
        documents=[
            FnDocument(
                **{
                    **doc,
                    "at": datetime.fromisoformat(doc["at"]),
                    "ticket_at": _dt(doc["ticket_at"]),
                    "lines": tuple(ReceiptLine(**line) for line in doc.get("lines", [])),
                }
            )
            for doc in docs
        ],
        **data,
    )


def save_state(path: Path, state: EmulatorState, *, fsync: bool = True) -> None:
    """Atomically replace ``path`` with ``state`` (temp file + fsync + rename + directory fsync).

    With ``fsync=False`` the replacement is still atomic for other processes and survives a crash of
    the emulator process, but not a power loss (used by benchmarks: an fsync costs milliseconds).
    """
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(state_to_json(state))
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())
    os.replace(tmp, path)
    if not fsync:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_state(path: Path) -> EmulatorState | None:
    """The state stored at ``path``, or None when there is no file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return state_from_json(text)
