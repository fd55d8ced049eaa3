"""Field codecs: little-endian integers, 5-byte money, KKT dates (DD MM YY) and FN dates (YY MM DD)."""

from __future__ import annotations

from datetime import date, datetime, time

from kkt_adapter.kkt.errors import ProtocolError

MONEY_BYTES = 5
NOT_GIVEN_5 = b"\xff" * 5


def u_le(value: int, size: int) -> bytes:
    """Unsigned little-endian integer of ``size`` bytes."""
    if value < 0 or value >= 1 << (8 * size):
        raise ProtocolError(f"{value} does not fit in {size} bytes")
    return value.to_bytes(size, "little")


def read_u_le(data: bytes, offset: int, size: int) -> int:
    """Read an unsigned little-endian integer; raise if the data is short."""
    chunk = data[offset : offset + size]
    if len(chunk) != size:
        raise ProtocolError(f"answer too short: need {size} bytes at offset {offset}")
    return int.from_bytes(chunk, "little")


def money(kopecks: int) -> bytes:
    """Money field: 5 bytes LE, kopecks."""
    return u_le(kopecks, MONEY_BYTES)


def fn_datetime(value: datetime) -> bytes:
    """FN DATE_TIME: ``YY MM DD HH MM``."""
    return bytes([value.year % 100, value.month, value.day, value.hour, value.minute])


def read_fn_datetime(data: bytes, offset: int) -> datetime:
    """Read an FN DATE_TIME (``YY MM DD HH MM``)."""
    chunk = data[offset : offset + 5]
    if len(chunk) != 5:
        raise ProtocolError("answer too short for an FN date-time")
    try:
        return datetime(2000 + chunk[0], chunk[1], chunk[2], chunk[3], chunk[4])
    except ValueError as exc:
        raise ProtocolError(f"bad FN date-time {chunk.hex(' ')}") from exc


def fn_date(value: date) -> bytes:
    """FN DATE: ``YY MM DD``."""
    return bytes([value.year % 100, value.month, value.day])


def read_fn_date(data: bytes, offset: int) -> date:
    """Read an FN DATE (``YY MM DD``)."""
    chunk = data[offset : offset + 3]
    if len(chunk) != 3:
        raise ProtocolError("answer too short for an FN date")
    try:
        return date(2000 + chunk[0], chunk[1], chunk[2])
    except ValueError as exc:
        raise ProtocolError(f"bad FN date {chunk.hex(' ')}") from exc


def kkt_date(value: date) -> bytes:
    """KKT date: ``DD MM YY`` (javapos ``CommandOutputStream.writeDateDMY``)."""
    return bytes([value.day, value.month, value.year % 100])


def kkt_time(value: datetime | time) -> bytes:
    """KKT time: ``HH MM SS`` (javapos ``CommandOutputStream.writeTimeHMS``)."""
    return bytes([value.hour, value.minute, value.second])


def text_cp1251(value: str, size: int | None = None) -> bytes:
    """Printed text in cp1251 (unmappable characters become '?'), NUL-padded to ``size`` if given."""
    raw = value.encode("cp1251", errors="replace")
    if size is None:
        return raw
    return raw[:size].ljust(size, b"\x00")
