"""The QR code string of a fiscal receipt (tag 1196): ``t=…&s=…&fn=…&i=…&fp=…&n=…``."""

from __future__ import annotations

from datetime import datetime


def qr_string(
    fiscal_datetime_local: datetime, total_kop: int, fn_serial: str, fd_number: int, fiscal_sign: int, operation: int
) -> str:
    """Tag 1196 as printed on the receipt; the time is the device's local time, the sum in roubles."""
    stamp = fiscal_datetime_local.strftime("%Y%m%dT%H%M")
    roubles, kopecks = divmod(total_kop, 100)
    return f"t={stamp}&s={roubles}.{kopecks:02d}&fn={fn_serial}&i={fd_number}&fp={fiscal_sign}&n={operation}"
