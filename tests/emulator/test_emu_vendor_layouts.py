"""The emulator's answers read with the vendor's own decoders' layouts (re-written here from javapos
``Source/Core/src/com/shtrih/fiscalprinter/command/<Class>.java`` ``decode``), compared with its state.

Neither the client's decoders nor the emulator's encoders are used: each reader below follows one javapos
``decode`` method field by field (``readByte``, ``readShort`` = 2 bytes LE, ``readInt`` = 4, ``readLong(n)``,
``readDateYMD``, ``readTimeHM``, ``readString(n)``).
"""

from __future__ import annotations

from datetime import datetime

from emu_helpers import T0, ff45, ff46, new_device, run

from kkt_adapter.emulator.model import Device


class Reader:
    """javapos CommandInputStream, the parts the FN answers use."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        assert len(chunk) == n, f"answer too short at {self.pos}: {self.data.hex(' ')}"
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def le(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def date_ymd_hm(self) -> datetime:
        y, m, d, hh, mm = self.take(5)
        return datetime(2000 + y, m, d, hh, mm)


def _day(dev: Device) -> int:
    """Open a shift and sign one receipt of 100.00 at 22 %; the receipt's FD number."""
    run(dev, 0xE0)
    run(dev, 0xFF46, ff46(10000))
    assert run(dev, 0xFF45, ff45(cash=10000))[0] == 0
    return dev.state.last_fd


def test_ff01_read_as_fs_read_status() -> None:
    """FSReadStatus.decode: status, docType, docReceived, dayOpened, flags, date YMD, time HM, serial(16),
    docNumber(4)."""
    dev = new_device()
    last = _day(dev)
    r = Reader(run(dev, 0xFF01)[1])
    assert r.byte() & 0x03 == 0x03  # set up and in fiscal mode
    doc_type, _received, day_open, _flags = r.byte(), r.byte(), r.byte(), r.byte()
    assert (doc_type, day_open) == (0, 1)
    assert r.date_ymd_hm() == T0
    assert r.take(16).decode("ascii") == dev.state.config.fn_serial
    assert r.le(4) == last


def test_ff03_read_as_fs_read_exp_date() -> None:
    """FSReadExpDate.decode: date YMD, remaining registrations, registrations."""
    dev = new_device()
    y, m, d = run(dev, 0xFF03)[1][:3]
    assert (2000 + y, m, d) == (
        dev.state.fn_expires_on.year,
        dev.state.fn_expires_on.month,
        dev.state.fn_expires_on.day,
    )


def test_ff39_read_as_fs_read_comm_status() -> None:
    """FSReadCommStatus.decode: status, readStatus, queueSize(short), documentNumber(int), date YMD + time HM."""
    dev = new_device()
    _day(dev)
    r = Reader(run(dev, 0xFF39)[1])
    status, _reading, queue, first = r.byte(), r.byte(), r.le(2), r.le(4)
    assert status & 0x02
    assert (queue, first) == (len(dev.state.unconfirmed()), dev.state.unconfirmed()[0].fd_number)
    assert r.date_ymd_hm() == dev.state.unconfirmed()[0].at


def test_ff40_read_as_fs_read_day_parameters() -> None:
    """FSReadDayParameters.decode: dayStatus, dayNumber(short), receiptNumber(short)."""
    dev = new_device()
    _day(dev)
    r = Reader(run(dev, 0xFF40)[1])
    assert (r.byte(), r.le(2), r.le(2)) == (1, dev.state.shift_number, dev.state.receipts_in_shift + 1)


def test_ff0a_read_as_fs_find_document() -> None:
    """FSFindDocument.decode: docType, ticketReceived, date-time YMDHM, docNumber(4), docSign(4), data: for a
    receipt op + sum(5) as in FSFindDocumentTests' ``01 20 4E 00 00 00``."""
    dev = new_device()
    fd = _day(dev)
    r = Reader(run(dev, 0xFF0A, fd.to_bytes(4, "little"))[1])
    doc = dev.state.find(fd)
    assert doc is not None
    assert (r.byte(), r.byte(), r.date_ymd_hm()) == (3, 0, doc.at)
    assert (r.le(4), r.le(4), r.byte(), r.le(5)) == (fd, doc.fiscal_sign, 1, 10000)


def test_ff45_answer_read_as_fs_close_receipt() -> None:
    """FSCloseReceipt.decode: change(5), docNum(4), docMAC(4), then (size ≥ 5) date YMD + time HM."""
    dev = new_device()
    run(dev, 0xE0)
    run(dev, 0xFF46, ff46(8990))
    r = Reader(run(dev, 0xFF45, ff45(cash=10000))[1])
    doc = dev.state.documents[-1]
    assert (r.le(5), r.le(4), r.le(4), r.date_ymd_hm()) == (1010, doc.fd_number, doc.fiscal_sign, doc.at)


def test_ff3f_count_is_the_unconfirmed_documents() -> None:
    """FF3F: «Протокол ФР (Команды работы с ФН)» — count, 2 bytes (javapos reads 4; the driver takes both)."""
    dev = new_device()
    _day(dev)
    assert run(dev, 0xFF3F)[1] == len(dev.state.unconfirmed()).to_bytes(2, "little")


def test_10h_read_as_read_short_status() -> None:
    """ReadShortStatus.decode: operator, flags(short), mode (low nibble), sub-mode, ops lo, battery, power,
    FM result, EJ result, ops hi — with a receipt of two lines open."""
    dev = new_device()
    run(dev, 0xE0)
    run(dev, 0xFF46, ff46(100))
    run(dev, 0xFF46, ff46(200))
    r = Reader(run(dev, 0x10)[1])
    operator, flags, mode, sub_mode, ops_lo = r.byte(), r.le(2), r.byte() & 0x0F, r.byte(), r.byte()
    r.take(4)
    assert (operator, flags, mode, sub_mode, ops_lo + (r.byte() << 8)) == (30, 0x0292, 8, 0, 2)


def test_11h_read_as_long_printer_status() -> None:
    """LongPrinterStatus(CommandInputStream): … date DMY, time HMS, fmFlags, serialNumber(int), dayNumber(short),
    free FM records, registrations, free registrations, fiscalID(6) — date, serial, last shift and INN."""
    dev = new_device()
    _day(dev)
    r = Reader(run(dev, 0x11)[1])
    r.take(1 + 2 + 2 + 3 + 1 + 2)  # operator, firmware version, build, date, logical number, document number
    flags, mode, _sub, _port = r.le(2), r.byte(), r.byte(), r.byte()
    r.take(2 + 2 + 3)  # FM firmware version, build, date
    d, m, y = r.take(3)
    hh, mm, ss = r.take(3)
    _fm_flags, serial, day_number = r.byte(), r.le(4), r.le(2)
    r.take(2 + 1 + 1)
    assert (flags, mode) == (0x0292, 2)
    assert datetime(2000 + y, m, d, hh, mm, ss) == T0
    assert (serial, day_number) == (dev.state.config.kkt_serial, dev.state.shift_number - 1)
    assert r.le(6) == int(dev.state.config.inn)


def test_ff02_read_as_fs_read_serial() -> None:
    """FSReadSerial.decode: readString(16), the FN serial."""
    dev = new_device()
    assert run(dev, 0xFF02)[1].decode("ascii") == dev.state.config.fn_serial
