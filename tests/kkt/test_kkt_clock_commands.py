"""21h/22h/23h (set time, set date, confirm date): our bytes against the vendor's encoders.

No vendor test holds a frame of these commands, so each vector is derived from the encoder source and
says which: javapos ``Source/Core/src/com/shtrih/fiscalprinter/command/WriteTime.java`` (21h),
``SetDateCommand.java`` (22h), ``ConfirmDate.java`` (23h) — ``writeInt(password)`` (4 bytes LE, the
system administrator's password ``sysPassword``, ``SMFiscalPrinterImpl.writeDate``) then
``CommandOutputStream.writeTimeHMS`` / ``writeDateDMY``; OPOS ``Source/SmFiscalPrinter/Units/
FiscalPrinterDevice.pas`` builds the same (``#$22 + IntToBin(GetSysPassword, 4) + ...``).
"""

from __future__ import annotations

from datetime import date, datetime, time

from kkt_adapter.kkt.protocol import commands
from kkt_adapter.kkt.protocol.frame import encode_frame


def test_set_time_frame_is_password_then_hh_mm_ss() -> None:
    """21h 14:05:09 with password 30 is ``02 08 21 1E 00 00 00 0E 05 09`` + LRC (WriteTime.java layout)."""
    frame = encode_frame(commands.set_time(30, time(14, 5, 9)))
    assert frame == bytes.fromhex("02 08 21 1E 00 00 00 0E 05 09 35")


def test_set_date_frame_is_password_then_dd_mm_yy() -> None:
    """22h 2026-01-01 with password 30 is ``02 08 22 1E 00 00 00 01 01 1A`` + LRC (SetDateCommand.java)."""
    frame = encode_frame(commands.set_date(30, date(2026, 1, 1)))
    assert frame == bytes.fromhex("02 08 22 1E 00 00 00 01 01 1A 2E")


def test_confirm_date_frame_repeats_the_date() -> None:
    """23h 2025-12-31 with password 30 is ``02 08 23 1E 00 00 00 1F 0C 19`` + LRC (ConfirmDate.java)."""
    frame = encode_frame(commands.confirm_date(30, datetime(2025, 12, 31).date()))
    assert frame == bytes.fromhex("02 08 23 1E 00 00 00 1F 0C 19 3F")
