"""Our driver fiscalizes every rate it can encode at its own row on the emulator, and refuses the rest
before the first byte (docs/kkt-encodings.md; rows: javapos ``FiscalPrinterImpl.getVatCodeShtrih``,
``Doc/VatTable.txt``; table 17 field 71: fr_drv_ng #328)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from kkt_emu import ALL_BUT_7_107, TAG_1199, connected

from kkt_adapter.emulator import Emulator
from kkt_adapter.emulator.state import DeviceConfig
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.errors import NotEncodable
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem


def receipt(vats: list[str], operation: str = "sell_return") -> ReceiptIn:
    items = [
        {"name": f"Товар {v}", "price_kop": 10000 + i, "quantity": "1", "amount_kop": 10000 + i, "vat": v}
        for i, v in enumerate(vats)
    ]
    total = sum(item["amount_kop"] for item in items)  # type: ignore[misc]
    return ReceiptIn.model_validate(
        {
            "operation": operation,
            "items": items,
            "payments": [{"type": "electronic", "amount_kop": total}],
            "total_kop": total,
        }
    )


def started(tmp_path: Path, config: DeviceConfig) -> Emulator:
    emu = Emulator(tmp_path / "kkt0", tmp_path / "kkt.json", config=config, clock=lambda: datetime(2026, 3, 2, 9))
    emu.start()
    emu.set_faults(print_delay_ms=0)
    return emu


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    emulator = started(tmp_path, DeviceConfig(tax_systems=0x03))
    yield emulator
    emulator.stop()


def _driver(emu: Emulator) -> ShtrihDriver:
    kkt = connected(emu)
    kkt.open_shift()
    return kkt


def test_every_encodable_rate_lands_on_its_own_row(emu: Emulator) -> None:
    """A 2026 return with 11 rates (all but 7/107): the FN document shows each line at its own tag 1199."""
    kkt = _driver(emu)
    try:
        result = kkt.fiscalize(receipt(ALL_BUT_7_107), TaxSystem.USN_INCOME)
    finally:
        kkt.close()
    lines = {line["name"].removeprefix("Товар "): line for line in emu.snapshot()["archive"][-1]["lines"]}
    assert emu.snapshot()["archive"][-1]["fd_number"] == result.fd_number
    assert {v: lines[v]["tag_1199"] for v in ALL_BUT_7_107} == {v: TAG_1199[v] for v in ALL_BUT_7_107}
    assert (lines["vat20"]["rate"], lines["vat22"]["rate"]) == ("НДС 20%", "НДС 22%")


def test_a_20_percent_return_in_2026_stays_20_percent(emu: Emulator) -> None:
    """The 2026 return of a 2025 sale at 20 %: the FN line is row 1, tag 1199 = 1 (not 22 %)."""
    kkt = _driver(emu)
    try:
        kkt.fiscalize(receipt(["vat20"]), TaxSystem.OSN)
    finally:
        kkt.close()
    (line,) = emu.snapshot()["archive"][-1]["lines"]
    assert (line["tax_byte"], line["row"], line["tag_1199"]) == (0x01, 1, 1)


def test_20_percent_refused_on_a_device_that_turns_it_into_22(tmp_path: Path) -> None:
    """Table 17 field 71 = 1 and a 2026 device date: NotEncodable before 8Dh; no receipt open, no FD signed."""
    emu = started(tmp_path, DeviceConfig(vat20_mode=1))
    try:
        kkt = _driver(emu)
        last_fd = emu.last_fd
        try:
            with pytest.raises(NotEncodable) as caught:
                kkt.fiscalize(receipt(["vat20"]), TaxSystem.OSN)
        finally:
            kkt.close()
        assert "71" in caught.value.text
        assert (emu.receipt_open, emu.last_fd) == (False, last_fd)
    finally:
        emu.stop()


def test_7_107_refused_before_the_first_byte(emu: Emulator) -> None:
    """A 7/107 line: NotEncodable (code 0, the reason), and the device saw no receipt command."""
    kkt = _driver(emu)
    before = emu.commands_executed
    try:
        with pytest.raises(NotEncodable) as caught:
            kkt.fiscalize(receipt(["vat22", "vat107"]), TaxSystem.USN_INCOME)
    finally:
        kkt.close()
    assert caught.value.code == 0
    assert emu.commands_executed == before
    assert not emu.receipt_open


def test_22_percent_refused_when_the_device_wants_tax_sums_from_the_software(tmp_path: Path) -> None:
    """Table 1 field 14 = 1 (fr_drv_ng #318: taxes by the software) and a 22 % line: FF45 has no 22 % slot in any
    source, so NotEncodable before 8Dh; a 10 % receipt still goes through."""
    emu = started(tmp_path, DeviceConfig(tax_mode=1))
    try:
        kkt = _driver(emu)
        try:
            with pytest.raises(NotEncodable) as caught:
                kkt.fiscalize(receipt(["vat22"], operation="sell"), TaxSystem.OSN)
            assert "14" in caught.value.text
            assert not emu.receipt_open
            kkt.fiscalize(receipt(["vat10"], operation="sell"), TaxSystem.OSN)
        finally:
            kkt.close()
    finally:
        emu.stop()


def test_table_fields_are_read_once_per_connection(emu: Emulator) -> None:
    """Two 22 % receipts: 1Fh table 1 field 14 is read for the first only (commands counted on the device)."""
    kkt = _driver(emu)
    try:
        before = emu.commands_executed
        kkt.fiscalize(receipt(["vat22"], operation="sell"), TaxSystem.OSN)
        first = emu.commands_executed - before
        kkt.fiscalize(receipt(["vat22"], operation="sell"), TaxSystem.OSN)
        second = emu.commands_executed - before - first
    finally:
        kkt.close()
    assert first == second + 1
