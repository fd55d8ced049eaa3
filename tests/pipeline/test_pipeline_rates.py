"""VAT rates checked against the device's date just before the receipt is sent (issue 11, item 3)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from pipeline_rig import all_in, close_rig, open_rig, receipt_docs, wait_until

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.pipeline.printing import rates_problem
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

NEW_YEAR_EVE = datetime(2025, 12, 31, 23, 59)


def sale_at(vat: str, total_kop: int = 12000, operation: str = "sell") -> ReceiptIn:
    """A one-line cash receipt at VAT rate ``vat``."""
    return ReceiptIn.model_validate(
        {
            "operation": operation,
            "items": [{"name": "Товар", "price_kop": total_kop, "quantity": "1", "amount_kop": total_kop, "vat": vat}],
            "payments": [{"type": "cash", "amount_kop": total_kop}],
            "total_kop": total_kop,
        }
    )


def set_device_clock(emu: Emulator, when: datetime) -> None:
    """Move the emulator's device clock so that it reads ``when`` now."""
    emu.advance_clock((when - emu.now()).total_seconds())


def test_rates_valid_on_the_device_date_pass() -> None:
    """20 % on 31 December at noon and 22 % on 1 January are valid: no problem."""
    assert rates_problem(sale_at("vat20"), TaxSystem.OSN, datetime(2025, 12, 31, 12, 0)) is None
    assert rates_problem(sale_at("vat22"), TaxSystem.OSN, datetime(2026, 1, 1, 0, 0)) is None


def test_retired_rate_after_the_change_names_the_field_and_the_date() -> None:
    """20 % on a 2026 device date: the reason names the line's field, the device date and what to do."""
    problem = rates_problem(sale_at("vat20"), TaxSystem.OSN, datetime(2026, 1, 1, 0, 1))
    assert problem is not None
    assert "items[0].vat" in problem
    assert "2026-01-01 00:01" in problem
    assert "send the receipt again" in problem


def test_rate_valid_now_but_not_within_the_margin_is_refused() -> None:
    """At 23:59 (FF01 has minutes only) the receipt may be signed after midnight: 20 % is refused."""
    assert rates_problem(sale_at("vat20"), TaxSystem.OSN, NEW_YEAR_EVE) is not None


def test_return_at_the_old_rate_stays_valid_after_the_change() -> None:
    """A 2026 return of a 2025 sale at 20 % is allowed (the rules' exception for returns)."""
    assert rates_problem(sale_at("vat20", operation="sell_return"), TaxSystem.OSN, datetime(2026, 1, 5, 9, 0)) is None


def test_receipt_accepted_before_midnight_and_printed_after_is_rejected_not_fiscalized(tmp_path: Path) -> None:
    """A 20 % sale accepted at 23:59 on 31 December (device time) while the paper is out, printed after
    midnight: it is ``rejected`` with the reason and the device's FN holds no receipt document."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        emu = rig.emulators["kkt1"]
        try:
            set_device_clock(emu, NEW_YEAR_EVE)
            emu.set_paper_out(True)
            _, created = await rig.store.insert_receipt("eve", sale_at("vat20"), "kkt1", TaxSystem.OSN)
            assert created

            async def waiting_for_paper() -> bool:
                cache = rig.pipeline.device_snapshots()[0]
                return cache.last_error is not None and "paper" in cache.last_error

            await wait_until(waiting_for_paper, 10, "the receipt waits for paper")
            set_device_clock(emu, datetime(2026, 1, 1, 0, 3))
            emu.set_paper_out(False)
            await wait_until(lambda: all_in(rig.store, ["eve"], frozenset({ReceiptState.REJECTED})), 10, "rejected")
            row = await rig.store.get("eve")
            assert row is not None
            assert row.reject_reason is not None
            assert "VAT rate not valid at print time" in row.reject_reason
            assert "2026-01-01" in row.reject_reason
            assert receipt_docs(emu) == []
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_same_receipt_printed_before_midnight_is_fiscalized_at_its_rate(tmp_path: Path) -> None:
    """The same 20 % sale printed at 23:50 on 31 December is fiscalized (the check refuses nothing valid)."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        emu = rig.emulators["kkt1"]
        try:
            set_device_clock(emu, datetime(2025, 12, 31, 23, 50))
            await rig.store.insert_receipt("day", sale_at("vat20"), "kkt1", TaxSystem.OSN)
            await wait_until(lambda: all_in(rig.store, ["day"], frozenset({ReceiptState.FISCALIZED})), 10, "fiscalized")
            docs = receipt_docs(emu)
            assert [doc.sum_kop for doc in docs] == [12000]
            assert docs[0].at.date() == datetime(2025, 12, 31).date()
        finally:
            await close_rig(rig)

    asyncio.run(scenario())
