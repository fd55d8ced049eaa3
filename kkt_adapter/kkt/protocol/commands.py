"""Command encoders: each returns a frame *body* (command code, password, parameters), no I/O.

Layouts follow ``reference/kkt-protocol.md`` §1.6. The password is 4 bytes LE right after the code
(FCh has none). Money is 5 bytes LE in kopecks; FF46 quantity is 6 bytes LE × 10⁶. Wrap a body with
:func:`kkt_adapter.kkt.protocol.frame.encode_frame` to put it on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time

from kkt_adapter.kkt.errors import ProtocolError
from kkt_adapter.kkt.protocol.fields import NOT_GIVEN_5, kkt_date, kkt_time, money, text_cp1251, u_le
from kkt_adapter.kkt.protocol.frame import code_bytes

GET_DEVICE_TYPE = 0xFC
SHORT_STATUS = 0x10
FULL_STATUS = 0x11
PRINT_LINE = 0x17
READ_TABLE = 0x1F
SET_TIME = 0x21
SET_DATE = 0x22
CONFIRM_DATE = 0x23
CUT = 0x25
FEED = 0x29
X_REPORT = 0x40
Z_REPORT = 0x41
CASH_IN = 0x50
CASH_OUT = 0x51
SALE_LEGACY = 0x80
CLOSE_LEGACY = 0x85
CANCEL_RECEIPT = 0x88
OPEN_RECEIPT = 0x8D
CONTINUE_PRINTING = 0xB0
OPEN_SHIFT = 0xE0
FN_STATUS = 0xFF01
FN_SERIAL = 0xFF02
FN_EXPIRY = 0xFF03
FN_FISCALIZATION_TOTALS = 0xFF09
FN_FIND_DOCUMENT = 0xFF0A
FN_SEND_TLV = 0xFF0C
FN_SEND_OPERATION_TLV = 0xFF4D
FN_SETTLEMENT_BEGIN = 0xFF37
FN_SETTLEMENT_BUILD = 0xFF38
FN_OFD_READ_STATUS = 0xFF30
FN_OFD_READ_BLOCK = 0xFF31
FN_OFD_ANSWER_BEGIN = 0xFF32
FN_OFD_ANSWER_BLOCK = 0xFF33
FN_EXCHANGE_STATUS = 0xFF39
FN_OFD_TICKET = 0xFF3C
FN_UNCONFIRMED_COUNT = 0xFF3F
FN_SHIFT_PARAMS = 0xFF40
CLOSE_RECEIPT_V2 = 0xFF45
OPERATION_V2 = 0xFF46

PAYMENT_SLOTS = 16
TAX_SLOTS = 6
TAX_SLOTS_EXTENDED = 10
MAX_ITEM_NAME_BYTES = 128
MAX_CLOSE_TEXT_BYTES = 64
LINE_WIDTH = 40


def with_password(command: int, password: int, params: bytes = b"") -> bytes:
    """Body ``code pwd(4 LE) params``."""
    return code_bytes(command) + u_le(password, 4) + params


def get_device_type() -> bytes:
    """FCh: device type; the only command here without a password."""
    return code_bytes(GET_DEVICE_TYPE)


def simple(command: int, password: int) -> bytes:
    """Any command whose request is only the password: 10, 11, E0, 88, 40, 41, B0, FF01…FF40."""
    return with_password(command, password)


def open_receipt(password: int, receipt_type: int) -> bytes:
    """8Dh: open a receipt of ``receipt_type`` (0 sale, 1 purchase, 2 sale return, 3 purchase return)."""
    if receipt_type not in (0, 1, 2, 3):
        raise ProtocolError(f"bad receipt type {receipt_type}")
    return with_password(OPEN_RECEIPT, password, bytes([receipt_type]))


def read_table(password: int, table: int, row: int, field: int) -> bytes:
    """1Fh "Чтение таблицы": ``pwd(sysadmin) table(1) row(2 LE) field(1)`` (ПротоколККТ 2.0)."""
    return with_password(READ_TABLE, password, bytes([table]) + u_le(row, 2) + bytes([field]))


def set_time(password: int, value: time) -> bytes:
    """21h "Программирование времени": ``pwd(sysadmin) HH MM SS`` (javapos ``command/WriteTime.java``)."""
    return with_password(SET_TIME, password, kkt_time(value))


def set_date(password: int, value: date) -> bytes:
    """22h "Программирование даты": ``pwd(sysadmin) DD MM YY`` (javapos ``command/SetDateCommand.java``).

    The device then waits (mode 6) for 23h with the same date before the new date takes effect.
    """
    return with_password(SET_DATE, password, kkt_date(value))


def confirm_date(password: int, value: date) -> bytes:
    """23h "Подтверждение программирования даты": ``pwd(sysadmin) DD MM YY`` (javapos ``ConfirmDate.java``)."""
    return with_password(CONFIRM_DATE, password, kkt_date(value))


def print_line(password: int, text: str, flags: int = 0x02) -> bytes:
    """17h: print one line (flags b1 = receipt tape), text cp1251 NUL-padded to 40 bytes."""
    return with_password(PRINT_LINE, password, bytes([flags]) + text_cp1251(text, LINE_WIDTH))


def feed(password: int, lines: int, flags: int = 0x02) -> bytes:
    """29h: feed ``lines`` lines."""
    return with_password(FEED, password, bytes([flags, lines]))


def cut(password: int, partial: bool = False) -> bytes:
    """25h: cut the receipt tape (full or partial)."""
    return with_password(CUT, password, bytes([1 if partial else 0]))


def find_document(password: int, fd_number: int) -> bytes:
    """FF0A: find a fiscal document by its number."""
    return with_password(FN_FIND_DOCUMENT, password, u_le(fd_number, 4))


def ofd_ticket(password: int, fd_number: int) -> bytes:
    """FF3C: the OFD ticket stored for a fiscal document."""
    return with_password(FN_OFD_TICKET, password, u_le(fd_number, 4))


def tlv(tag: int, value: bytes) -> bytes:
    """One FN TLV: ``tag(2 LE) length(2 LE) value`` (javapos ``TLVWriter``)."""
    return u_le(tag, 2) + u_le(len(value), 2) + value


def send_tlv(password: int, tag: int, value: bytes) -> bytes:
    """FF0C: one TLV attached to the open document; the system administrator's password (OPOS
    ``FiscalPrinterDevice.pas`` ``FSWriteTLV``: ``#$FF#$0C + IntToBin(GetSysPassword, 4)``)."""
    return with_password(FN_SEND_TLV, password, tlv(tag, value))


def send_operation_tlv(password: int, tag: int, value: bytes) -> bytes:
    """FF4D: one TLV attached to the operation (line) just registered by FF46; the system
    administrator's password (javapos ``command/FSWriteOperationTLV.java``)."""
    return with_password(FN_SEND_OPERATION_TLV, password, tlv(tag, value))


@dataclass(frozen=True)
class OperationV2:
    """FF46 parameters. ``sum_kop``/``tax_kop`` ``None`` mean "not given" (FF×5: the KKT computes)."""

    op_type: int
    quantity_micro: int
    price_kop: int
    sum_kop: int | None
    tax_kop: int | None
    tax_rate: int
    department: int
    payment_method: int
    payment_object: int
    name: str


def operation_v2(password: int, op: OperationV2) -> bytes:
    """FF46: one receipt line (FFD 1.05+). The name is cp1251 (ProtocolError if a character is not in it),
    at most 128 bytes; ``tax_rate`` is the tax byte (:mod:`kkt_adapter.kkt.protocol.tax`)."""
    if op.op_type not in (1, 2, 3, 4):
        raise ProtocolError(f"bad FF46 operation type {op.op_type}")
    params = (
        bytes([op.op_type])
        + u_le(op.quantity_micro, 6)
        + money(op.price_kop)
        + (NOT_GIVEN_5 if op.sum_kop is None else money(op.sum_kop))
        + (NOT_GIVEN_5 if op.tax_kop is None else money(op.tax_kop))
        + bytes([op.tax_rate, op.department, op.payment_method, op.payment_object])
        + strict_cp1251(op.name, MAX_ITEM_NAME_BYTES)
    )
    return with_password(OPERATION_V2, password, params)


def strict_cp1251(value: str, limit: int) -> bytes:
    """``value`` in cp1251, at most ``limit`` bytes; ProtocolError instead of a '?' for a character not in it."""
    try:
        raw = value.encode("cp1251")
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"{value!r} is not encodable in cp1251: {exc.reason}") from exc
    return raw[:limit]


@dataclass(frozen=True)
class CloseV2:
    """FF45 parameters: payments by slot 1…16, rounding, tax slots 1…6 (or 1…10: the extended form).

    Slots by meaning (OPOS ``ReceiptClose2``): 1 VAT 20 %, 2 VAT 10 %, 3 turnover 0 %, 4 turnover без НДС,
    5 VAT 20/120, 6 VAT 10/110, 7 VAT 5 %, 8 VAT 7 %, 9 VAT 5/105, 10 VAT 7/107.
    """

    payments_kop: Mapping[int, int]
    rounding_kop: int
    tax_sums_kop: Sequence[int]
    tax_system_bits: int
    text: str = ""


def close_receipt_v2(password: int, close: CloseV2) -> bytes:
    """FF45: ``pay1..16 rounding tax1..6 taxSystem text(0–64)`` (LEN 118…182); with ten tax slots the
    extended form ``… text(64, NUL-padded) tax7..10`` (LEN 202, OPOS ``ReceiptClose2`` comment)."""
    if any(not 1 <= slot <= PAYMENT_SLOTS for slot in close.payments_kop):
        raise ProtocolError(f"payment slots must be 1…{PAYMENT_SLOTS}")
    if len(close.tax_sums_kop) not in (TAX_SLOTS, TAX_SLOTS_EXTENDED):
        raise ProtocolError(f"FF45 needs {TAX_SLOTS} or {TAX_SLOTS_EXTENDED} tax sums")
    pays = b"".join(money(close.payments_kop.get(slot, 0)) for slot in range(1, PAYMENT_SLOTS + 1))
    taxes = [money(t) for t in close.tax_sums_kop]
    text = strict_cp1251(close.text, MAX_CLOSE_TEXT_BYTES)
    if len(taxes) == TAX_SLOTS_EXTENDED:
        text = text.ljust(MAX_CLOSE_TEXT_BYTES, b"\x00")
    params = (
        pays
        + bytes([close.rounding_kop])
        + b"".join(taxes[:TAX_SLOTS])
        + bytes([close.tax_system_bits])
        + text
        + b"".join(taxes[TAX_SLOTS:])
    )
    return with_password(CLOSE_RECEIPT_V2, password, params)


# --- host-relayed OFD exchange (javapos_shtrih FSReadBufferStatus, FSReadBlock, FSStartWriteBlock, FSWriteBlock) --

OFD_BLOCK_MAX_BYTES = 246  # a frame body is ≤ 255 bytes; FF33 has 9 fixed ones (code, pwd, offset, len)
OFD_READ_MAX_BYTES = 252  # an FF31 answer body is ≤ 255 bytes: code (2) + error (1) + data


def ofd_read_block(password: int, offset: int, count: int) -> bytes:
    """FF31: ``count`` (1…252) bytes of the FN's OFD message from ``offset``."""
    if not 1 <= count <= OFD_READ_MAX_BYTES:
        raise ProtocolError(f"an FF31 block holds 1…{OFD_READ_MAX_BYTES} bytes, not {count}")
    return with_password(FN_OFD_READ_BLOCK, password, u_le(offset, 2) + bytes([count]))


def ofd_answer_begin(password: int, size: int) -> bytes:
    """FF32: start writing an OFD answer of ``size`` bytes (the FN answers its block size)."""
    return with_password(FN_OFD_ANSWER_BEGIN, password, u_le(size, 2))


def ofd_answer_block(password: int, offset: int, data: bytes) -> bytes:
    """FF33: write ``data`` (1…246 bytes) at ``offset`` of the OFD answer."""
    if not 1 <= len(data) <= OFD_BLOCK_MAX_BYTES:
        raise ProtocolError(f"an FF33 block holds 1…{OFD_BLOCK_MAX_BYTES} bytes, not {len(data)}")
    return with_password(FN_OFD_ANSWER_BLOCK, password, u_le(offset, 2) + bytes([len(data)]) + data)


def ofd_answer_blocks(answer: bytes, block_size: int) -> list[tuple[int, bytes]]:
    """``answer`` cut into ``(offset, chunk)`` pieces of at most ``block_size`` bytes, in order."""
    if block_size < 1:
        raise ProtocolError(f"bad OFD answer block size {block_size}")
    step = min(block_size, OFD_BLOCK_MAX_BYTES)
    return [(offset, answer[offset : offset + step]) for offset in range(0, len(answer), step)]
