"""Field layouts the emulated device writes into its answers (ПротоколККТ 2.0 «Общие положения»,
«Протокол ФР (Команды работы с ФН)»): little-endian integers, 5-byte money in kopecks, KKT dates
``DD MM YY`` and times ``HH MM SS``, FN dates ``YY MM DD`` and date-times ``YY MM DD HH MM``.
"""

from __future__ import annotations

from datetime import date, datetime

MONEY_BYTES = 5
NOT_GIVEN = b"\xff" * MONEY_BYTES  # FF46 sum/tax "not given": the device computes it


def le(value: int, size: int) -> bytes:
    """Unsigned little-endian integer of ``size`` bytes (the emulator never builds one that overflows)."""
    return value.to_bytes(size, "little")


def money(kopecks: int) -> bytes:
    """Money: 5 bytes LE, kopecks."""
    return le(kopecks, MONEY_BYTES)


def kkt_date(value: date) -> bytes:
    """KKT date ``DD MM YY`` (11h)."""
    return bytes([value.day, value.month, value.year % 100])


def kkt_time(value: datetime) -> bytes:
    """KKT time ``HH MM SS`` (11h)."""
    return bytes([value.hour, value.minute, value.second])


def fn_date(value: date) -> bytes:
    """FN DATE ``YY MM DD``."""
    return bytes([value.year % 100, value.month, value.day])


def fn_datetime(value: datetime) -> bytes:
    """FN DATE_TIME ``YY MM DD HH MM``."""
    return bytes([value.year % 100, value.month, value.day, value.hour, value.minute])
