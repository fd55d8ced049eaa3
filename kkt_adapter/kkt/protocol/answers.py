"""Answer decoders: a frame body (echoed code, error byte, data) → a typed result, no I/O.

:func:`check_answer` verifies the echoed command code and turns a non-zero error byte into the
exception the error table prescribes; the ``decode_*`` functions then read the data bytes. Data is
read by offset against its length: missing mandatory bytes raise
:class:`~kkt_adapter.kkt.errors.ProtocolError`, trailing bytes a model adds are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from kkt_adapter.kkt.errors import ProtocolError
from kkt_adapter.kkt.protocol.errors_table import device_error
from kkt_adapter.kkt.protocol.fields import read_fn_date, read_fn_datetime, read_u_le
from kkt_adapter.kkt.protocol.frame import code_bytes
from kkt_adapter.kkt.types import (
    DeviceStatus,
    ExchangeStatus,
    FnDocument,
    FnExpiry,
    FnStatus,
    Mode,
    ShiftParams,
    SubMode,
)

FLAG_RECEIPT_PAPER = 1 << 1
FLAG_COVER_OPEN = 1 << 10
DOC_RECEIPT = 3
DOCS_WITH_SHIFT = frozenset({2, 5})


def check_answer(command: int, body: bytes) -> bytes:
    """Return the data after the error byte; raise the table's error if the error byte is non-zero."""
    code = code_bytes(command)
    if not body.startswith(code):
        raise ProtocolError(f"answer {body[:2].hex(' ')} does not echo command 0x{command:X}")
    if len(body) <= len(code):
        raise ProtocolError(f"answer to 0x{command:X} has no error byte")
    error = body[len(code)]
    if error != 0:
        raise device_error(command, error)
    return body[len(code) + 1 :]


def error_byte(command: int, body: bytes) -> int | None:
    """The error byte of an answer to ``command``, or ``None`` if the body is not such an answer."""
    code = code_bytes(command)
    if body.startswith(code) and len(body) > len(code):
        return body[len(code)]
    return None


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise ProtocolError(f"{what}: answer has {len(data)} data bytes, need {size}")


def _ascii(data: bytes) -> str:
    return data.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()


def read_kkt_datetime(data: bytes, date_at: int, time_at: int) -> datetime:
    """KKT date ``DD MM YY`` at ``date_at`` and time ``HH MM SS`` at ``time_at``."""
    d, t = data[date_at : date_at + 3], data[time_at : time_at + 3]
    try:
        return datetime(2000 + d[2], d[1], d[0], t[0], t[1], t[2])
    except (ValueError, IndexError) as exc:
        raise ProtocolError(f"bad KKT date-time {d.hex(' ')} {t.hex(' ')}") from exc


@dataclass(frozen=True)
class DeviceType:
    """FCh: model identification."""

    type: int
    subtype: int
    protocol_version: int
    protocol_subversion: int
    model: int
    language: int
    name: str


def decode_device_type(data: bytes) -> DeviceType:
    """FCh data: ``type subtype protoVer protoSub model lang name(cp1251, rest)``."""
    _need(data, 6, "FC")
    name = data[6:].split(b"\x00", 1)[0].decode("cp1251", errors="replace")
    return DeviceType(data[0], data[1], data[2], data[3], data[4], data[5], name)


def _mode(byte: int) -> Mode:
    try:
        return Mode(byte & 0x0F)
    except ValueError as exc:
        raise ProtocolError(f"unknown mode byte 0x{byte:02X}") from exc


def _sub_mode(byte: int) -> SubMode:
    try:
        return SubMode(byte)
    except ValueError as exc:
        raise ProtocolError(f"unknown sub-mode {byte}") from exc


def decode_short_status(data: bytes) -> DeviceStatus:
    """10h data: ``op flags(2) mode submode …``; paper is present when the receipt-roll flag is set and
    the sub-mode is not "paper out"."""
    _need(data, 5, "10h")
    flags = read_u_le(data, 1, 2)
    mode_byte, sub_mode = data[3], _sub_mode(data[4])
    paper = bool(flags & FLAG_RECEIPT_PAPER) and sub_mode not in (
        SubMode.PAPER_OUT_PASSIVE,
        SubMode.PAPER_OUT_ACTIVE,
    )
    return DeviceStatus(
        mode=_mode(mode_byte),
        mode_status=mode_byte >> 4,
        sub_mode=sub_mode,
        flags=flags,
        cover_open=bool(flags & FLAG_COVER_OPEN),
        paper_present=paper,
    )


@dataclass(frozen=True)
class FullStatus:
    """11h: the fields the driver uses."""

    firmware: str
    document_number: int
    flags: int
    mode: Mode
    sub_mode: SubMode
    device_datetime: datetime
    serial: str
    last_closed_shift: int
    inn: str


def decode_full_status(data: bytes) -> FullStatus:
    """11h data (46 bytes, 48/50 on newer models: serial high word at 48–49)."""
    _need(data, 46, "11h")
    serial = read_u_le(data, 30, 4)
    if len(data) >= 50:
        serial |= read_u_le(data, 48, 2) << 32
    inn_value = read_u_le(data, 40, 6)
    inn = str(inn_value).zfill(10 if inn_value < 10**10 else 12)
    return FullStatus(
        firmware=data[1:3].decode("ascii", errors="replace"),
        document_number=read_u_le(data, 9, 2),
        flags=read_u_le(data, 11, 2),
        mode=_mode(data[13]),
        sub_mode=_sub_mode(data[14]),
        device_datetime=read_kkt_datetime(data, 23, 26),
        serial=str(serial),
        last_closed_shift=read_u_le(data, 34, 2),
        inn=inn,
    )


def decode_fn_status(data: bytes) -> FnStatus:
    """FF01 data: ``phase curDoc docData shift warn dateTime(5) fnSerial(16) lastFd(4)``."""
    _need(data, 30, "FF01")
    return FnStatus(
        phase=data[0],
        current_document=data[1],
        shift_open=bool(data[3]),
        warnings=data[4],
        fn_datetime=read_fn_datetime(data, 5),
        fn_serial=_ascii(data[10:26]),
        last_fd_number=read_u_le(data, 26, 4),
    )


def decode_fn_serial(data: bytes) -> str:
    """FF02 data: ``fnSerial(16 ascii)``."""
    _need(data, 16, "FF02")
    return _ascii(data[:16])


def decode_fn_expiry(data: bytes) -> FnExpiry:
    """FF03 data: ``expiry(YY MM DD) reregLeft reregDone``."""
    _need(data, 5, "FF03")
    return FnExpiry(read_fn_date(data, 0), data[3], data[4])


def decode_exchange_status(data: bytes) -> ExchangeStatus:
    """FF39 data: ``status reading msgCount(2) firstDocNo(4) firstDocDateTime(5)``; no date when empty."""
    _need(data, 13, "FF39")
    count = read_u_le(data, 2, 2)
    raw_date = data[8:13]
    first_at = read_fn_datetime(data, 8) if count and any(raw_date) else None
    return ExchangeStatus(data[0], count, read_u_le(data, 4, 4), first_at)


def decode_unconfirmed_count(data: bytes) -> int:
    """FF3F data: ``count``, 2 bytes in «Протокол ФР (Команды работы с ФН)», 4 in javapos
    ``FSReadDocCount.decode`` (``readInt``): either is read."""
    _need(data, 2, "FF3F")
    return read_u_le(data, 0, 4 if len(data) >= 4 else 2)


def decode_shift_params(data: bytes) -> ShiftParams:
    """FF40 data: ``shiftState shiftNo(2) receiptNo(2)``."""
    _need(data, 5, "FF40")
    return ShiftParams(bool(data[0]), read_u_le(data, 1, 2), read_u_le(data, 3, 2))


def decode_find_document(data: bytes) -> FnDocument:
    """FF0A data: ``docType ticket dateTime(5) fdNo(4) sign(4)``, then ``op sum(5|4)`` for a receipt
    or ``shiftNo(2)`` for a shift open/close."""
    _need(data, 15, "FF0A")
    doc_type = data[0]
    operation = sum_kop = shift = None
    rest = data[15:]
    if doc_type == DOC_RECEIPT:
        _need(rest, 5, "FF0A receipt")
        operation = rest[0]
        sum_kop = read_u_le(rest, 1, 5 if len(rest) >= 6 else 4)
    elif doc_type in DOCS_WITH_SHIFT:
        _need(rest, 2, "FF0A shift document")
        shift = read_u_le(rest, 0, 2)
    return FnDocument(
        doc_type=doc_type,
        ticket_received=bool(data[1]),
        fd_number=read_u_le(data, 7, 4),
        fiscal_sign=read_u_le(data, 11, 4),
        doc_datetime=read_fn_datetime(data, 2),
        operation=operation,
        sum_kop=sum_kop,
        shift_number=shift,
    )


@dataclass(frozen=True)
class CloseAnswer:
    """FF45: change, FD number, fiscal sign and (optional on some firmware) the FN date-time."""

    change_kop: int
    fd_number: int
    fiscal_sign: int
    fiscal_datetime: datetime | None


def decode_close_v2(data: bytes) -> CloseAnswer:
    """FF45 data: ``change(5) fdNo(4) fiscalSign(4) [dateTime(5)]``."""
    _need(data, 13, "FF45")
    when = read_fn_datetime(data, 13) if len(data) >= 18 else None
    return CloseAnswer(read_u_le(data, 0, 5), read_u_le(data, 5, 4), read_u_le(data, 9, 4), when)


@dataclass(frozen=True)
class SettlementReport:
    """FF38: the settlement-state report's FD, fiscal sign and the unconfirmed backlog."""

    fd_number: int
    fiscal_sign: int
    unconfirmed_count: int
    first_unconfirmed_on: date | None


def decode_settlement_report(data: bytes) -> SettlementReport:
    """FF38 data: ``fdNo(4) fiscalSign(4) unconfirmedCount(4) firstUnconfirmedDate(YY MM DD)``."""
    _need(data, 15, "FF38")
    count = read_u_le(data, 8, 4)
    first = read_fn_date(data, 12) if count and any(data[12:15]) else None
    return SettlementReport(read_u_le(data, 0, 4), read_u_le(data, 4, 4), count, first)


@dataclass(frozen=True)
class Registration:
    """FF09: registration (fiscalization) totals: the KKT registration number and the INN."""

    registered_at: datetime
    inn: str
    registration_number: str
    tax_systems: int


def decode_registration(data: bytes) -> Registration:
    """FF09 data: ``dateTime(5) INN(12 ascii) RNM(20 ascii) taxSystem workMode …`` (the tail — reason,
    FD number, sign — differs between firmware; javapos ``FSReadFiscalization.java``)."""
    _need(data, 38, "FF09")
    return Registration(read_fn_datetime(data, 0), _ascii(data[5:17]), _ascii(data[17:37]), data[37])


def decode_ofd_read_status(data: bytes) -> tuple[int, int]:
    """FF30 data: ``size(2) maxBlock(1)`` → ``(size, max_block)``; size 0 or block 0 = nothing to send."""
    _need(data, 3, "FF30")
    return read_u_le(data, 0, 2), data[2]


def decode_ofd_answer_begin(data: bytes) -> int:
    """FF32 data: ``blockSize(1)``, the most bytes one FF33 may carry (never 0)."""
    _need(data, 1, "FF32")
    if data[0] == 0:
        raise ProtocolError("FF32: block size 0")
    return data[0]
