"""The emulator checks the tax byte, the FF45 tax slots and FF4D like a device, from its own tables.

Sources: javapos ``Doc/VatTable.txt`` (the byte of each row), javapos ``FiscalPrinterImpl.java``
``initVatRates`` (the rows' rates), OPOS ``FiscalPrinterDevice.pas`` ``ReceiptClose2`` (the FF45 slots, the
202-byte form), javapos ``command/FSWriteOperationTLV.java`` (FF4D), fr_drv_ng #328 (table 17 field 71).
"""

from __future__ import annotations

from datetime import datetime

import pytest
from emu_helpers import T0, ff45, ff46, new_device, run

from kkt_adapter.emulator.commands import make_device
from kkt_adapter.emulator.faults import Faults
from kkt_adapter.emulator.model import Device
from kkt_adapter.emulator.state import DeviceConfig, new_state


def _device(config: DeviceConfig | None = None) -> Device:
    dev = make_device(new_state(config or DeviceConfig(), T0), Faults())
    assert run(dev, 0xE0)[0] == 0
    return dev


def _line(dev: Device) -> tuple[int, int]:
    line = dev.state.documents[-1].lines[-1] if dev.state.receipt is None else dev.state.receipt.lines[-1]
    return line.tax, line.row


@pytest.mark.parametrize(
    ("tax_byte", "row"),
    [(0x01, 1), (0x02, 2), (0x04, 3), (0x08, 4), (0x10, 5), (0x20, 6), (0x81, 7), (0x82, 8), (0x84, 9),
     (0x90, 10), (0xCB, 11), (0xCC, 12)],
)  # fmt: skip
def test_each_vattable_byte_names_its_row(tax_byte: int, row: int) -> None:
    """Doc/VatTable.txt: rows 1–6 = bits, 7–10 = 129/130/132/144, 11+ = 0xC0 + row."""
    dev = _device()
    assert run(dev, 0xFF46, ff46(100, tax=tax_byte))[0] == 0
    assert _line(dev) == (tax_byte, row)


@pytest.mark.parametrize("tax_byte", [0x00, 0x03, 0x0C, 0x40, 0x88, 0xC5, 0xFF])
def test_a_byte_naming_no_row_or_several_is_refused(tax_byte: int) -> None:
    """No bit, two rows at once (0x03 = rows 1+2, the old "0 %" byte), 0x88 and unknown bytes answer 33h."""
    dev = _device()
    assert run(dev, 0xFF46, ff46(100, tax=tax_byte))[0] == 0x33


def test_a_row_the_table_does_not_hold_is_refused() -> None:
    """A device whose tax table has 10 rows (before 2026) refuses 22 % (row 11) with 33h."""
    dev = _device(DeviceConfig(tax_rows=10))
    assert run(dev, 0xFF46, ff46(100, tax=0xCB))[0] == 0x33
    assert run(dev, 0xFF46, ff46(100, tax=0x01))[0] == 0


def test_auto_22_mode_fiscalizes_row_1_at_22_percent_in_2026() -> None:
    """Table 17 field 71 = 1: a 0x01 line on 2026-03-02 lands on row 11; in 2025 on row 1."""
    dev = _device(DeviceConfig(vat20_mode=1))
    run(dev, 0xFF46, ff46(100, tax=0x01))
    assert _line(dev) == (0x01, 11)
    old = make_device(new_state(DeviceConfig(vat20_mode=1), datetime(2025, 12, 31, 23)), Faults())
    run(old, 0xE0, now=datetime(2025, 12, 31, 23))
    run(old, 0xFF46, ff46(100, tax=0x01), now=datetime(2025, 12, 31, 23))
    assert _line(old) == (0x01, 1)


def test_read_table_17_field_71() -> None:
    """1Fh table 17 row 1 field 71 answers the configured mode (one byte); an unknown field 33h."""
    dev = new_device()
    assert run(dev, 0x1F, bytes([17, 1, 0, 71])) == (0, b"\x02")
    assert run(dev, 0x1F, bytes([6, 1, 0, 1]))[0] == 0x33


def test_ff45_tax_slot_must_match_the_lines() -> None:
    """A 20 % line of 120.00 needs 20.00 in slot 1; 0 there answers 33h and the receipt stays open."""
    dev = _device()
    run(dev, 0xFF46, ff46(12000, tax=0x01))
    assert run(dev, 0xFF45, ff45(cash=12000))[0] == 0x33
    assert dev.state.receipt is not None
    assert run(dev, 0xFF45, ff45(cash=12000, taxes=(2000, 0, 0, 0, 0, 0)))[0] == 0


def test_ff45_slots_3_and_4_are_turnovers() -> None:
    """0 % and без НДС lines need their turnover in slots 3 and 4."""
    dev = _device()
    run(dev, 0xFF46, ff46(1000, tax=0x04))
    run(dev, 0xFF46, ff46(2500, tax=0x08))
    assert run(dev, 0xFF45, ff45(cash=3500, taxes=(0, 0, 0, 0, 0, 0)))[0] == 0x33
    assert run(dev, 0xFF45, ff45(cash=3500, taxes=(0, 0, 1000, 2500, 0, 0)))[0] == 0


def test_extended_ff45_checks_slots_7_to_10() -> None:
    """The 202-byte FF45 carries 5 % VAT in slot 7: right → signed, wrong → 33h."""
    dev = _device()
    run(dev, 0xFF46, ff46(10500, tax=0x81))
    assert run(dev, 0xFF45, ff45(cash=10500, taxes=(0,) * 6 + (499, 0, 0, 0)))[0] == 0
    dev = _device()
    run(dev, 0xFF46, ff46(10500, tax=0x81))
    assert run(dev, 0xFF45, ff45(cash=10500, taxes=(0,) * 6 + (400, 0, 0, 0)))[0] == 0x33


def test_ff45_text_longer_than_64_bytes_is_refused() -> None:
    """LEN must be 118–182 or 202: a 65-byte text answers 33h."""
    dev = _device()
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0xFF45, ff45(cash=100, text=b"x" * 65))[0] == 0x33


def test_ff4d_measure_is_kept_on_the_line_and_in_the_fn_document() -> None:
    """FF4D tag 2108 = 11 (kg) after FF46 marks that line; the signed document keeps it."""
    dev = _device()
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0xFF4D, bytes.fromhex("3C 08 01 00 0B"))[0] == 0
    assert run(dev, 0xFF45, ff45(cash=100))[0] == 0
    assert dev.state.documents[-1].lines[0].measure == 11


@pytest.mark.parametrize("tlv", ["3C 08 02 00 0B", "3C 08 01 00 05"])
def test_ff4d_with_a_bad_length_or_measure_is_refused(tlv: str) -> None:
    """A TLV whose length does not match, or a measure code FFD 1.2 does not have, answers 33h."""
    dev = _device()
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0xFF4D, bytes.fromhex(tlv))[0] == 0x33


def test_ff4d_and_ff0c_need_the_system_administrator() -> None:
    """FF4D/FF0C with the cashier's password 1 answer 4Fh (the vendor sends the sysadmin's, 30)."""
    dev = _device()
    run(dev, 0xFF46, ff46(100))
    assert run(dev, 0xFF4D, bytes.fromhex("3C 08 01 00 0B"), password=1)[0] == 0x4F
    assert run(dev, 0xFF0C, bytes.fromhex("FD 03 01 00 41"), password=1)[0] == 0x4F


def test_the_ff46_frame_a_real_device_took_is_taken() -> None:
    """fr_drv_ng #247's FF46 body (без НДС = 0x08, dept 0, method 0, object 0) answers ``FF 46 00`` here too,
    and the line lands on row 4 (без НДС); its FF45 needs the 100.00 turnover in slot 4."""
    frame = bytes.fromhex(
        "02 30 FF 46 1E 00 00 00 01 40 42 0F 00 00 00 10 27 00 00 00 10 27 00 00 00 FF FF FF FF FF 08 00 00 00"
        " CA EE EC EF EB E5 EA F1 ED FB E9 20 EE E1 E5 E4 8F"
    )
    dev = _device()
    out = dev.execute(frame[2:-1], T0)
    assert out.answer == bytes.fromhex("FF 46 00")
    assert _line(dev) == (0x08, 4)
    assert run(dev, 0xFF45, ff45(cash=10000, taxes=(0, 0, 0, 10000, 0, 0)))[0] == 0


def test_tlv_commands_without_an_open_document_are_fn_wrong_state() -> None:
    """FF0C and FF4D with no receipt open answer FN 02h ("другое состояние ФН")."""
    dev = _device()
    assert run(dev, 0xFF0C, bytes.fromhex("FD 03 01 00 41"))[0] == 0x02
    assert run(dev, 0xFF4D, bytes.fromhex("3C 08 01 00 0B"))[0] == 0x02
