"""Every emulator fault ends with exactly one FN document per fiscalized receipt (real driver, pty, SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pipeline_rig import Rig, all_in, check_exactly_once, close_rig, open_rig, sale, wait_until

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.kkt.types import SubMode
from kkt_adapter.receipts.model import Payment, PaymentType

DONE = frozenset({ReceiptState.FISCALIZED})
Fault = Callable[[Emulator], None]


async def _warm(rig: Rig) -> None:
    await rig.post("warm", sale(500, "warm"), "kkt1")
    await wait_until(lambda: all_in(rig.store, ["warm"], DONE), 10, "warm-up receipt fiscalized")


async def _finish(rig: Rig, keys: list[str], timeout_s: float = 20) -> None:
    await wait_until(lambda: all_in(rig.store, keys, DONE), timeout_s, "all receipts fiscalized")
    rows = [r for r in [await rig.store.get(k) for k in ["warm", *keys]] if r is not None]
    check_exactly_once(rows, rig.emulators["kkt1"])


async def _went_through(rig: Rig, keys: list[str], state: ReceiptState) -> bool:
    for key in keys:
        if any(e.to_state == state.value for e in await rig.store.events_of(key)):
            return True
    return False


@pytest.mark.parametrize(
    ("fault", "via_unknown"),
    [
        pytest.param(Emulator.lose_next_close_answer, True, id="answer-lost-after-close"),
        pytest.param(Emulator.corrupt_next_answer, False, id="bad-lrc"),
        pytest.param(lambda emu: emu.busy(3), False, id="busy-short"),
        pytest.param(lambda emu: emu.busy(40), None, id="busy-beyond-retries"),
        pytest.param(lambda emu: emu.vanish_port(0.7), None, id="port-vanishes"),
    ],
)
def test_fault_ends_with_one_document_per_receipt(tmp_path: Path, fault: Fault, via_unknown: bool | None) -> None:
    """After the fault every receipt is fiscalized exactly once and the FN holds no extra receipt
    (and a lost close answer is decided through ``unknown``, from the FN)."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        try:
            await _warm(rig)
            fault(rig.emulators["kkt1"])
            keys = [f"f{i}" for i in range(3)]
            for i, key in enumerate(keys):
                await rig.post(key, sale(700 + i, key), "kkt1")
            await _finish(rig, keys)
            if via_unknown is not None:
                assert await _went_through(rig, keys, ReceiptState.UNKNOWN) is via_unknown
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_paper_out_before_signing_waits_then_prints(tmp_path: Path) -> None:
    """With no paper the receipt stays accepted (not rejected) and health says why; paper back → fiscalized."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        emu = rig.emulators["kkt1"]
        try:
            await _warm(rig)
            emu.set_paper_out(True)
            await rig.post("p1", sale(1234, "p1"), "kkt1")

            async def paper_reported() -> bool:
                cache = rig.pipeline.device_snapshots()[0]
                return cache.last_error is not None and "paper" in cache.last_error

            await wait_until(paper_reported, 10, "paper out in the device cache")
            row = await rig.store.get("p1")
            assert row is not None
            assert row.state is ReceiptState.ACCEPTED
            emu.set_paper_out(False)
            await _finish(rig, ["p1"])
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_paper_out_after_signing_is_fiscalized_once_and_finished(tmp_path: Path) -> None:
    """A receipt signed before the paper ran out is fiscalized with print_incomplete, never printed again;
    when paper is back the worker sends "continue printing" and clears the flag."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        emu = rig.emulators["kkt1"]
        try:
            await _warm(rig)
            emu.paper_out_after_next_close()
            await rig.post("s1", sale(4321, "s1"), "kkt1")
            await rig.post("s2", sale(4322, "s2"), "kkt1")
            await wait_until(lambda: all_in(rig.store, ["s1"], DONE), 10, "s1 fiscalized")
            row = await rig.store.get("s1")
            assert row is not None
            assert row.print_incomplete
            assert await _went_through(rig, ["s1"], ReceiptState.UNKNOWN)
            later = await rig.store.get("s2")
            assert later is not None
            assert later.state is ReceiptState.ACCEPTED
            emu.set_paper_out(False)
            await _finish(rig, ["s1", "s2"])

            async def printed() -> bool:
                fresh = await rig.store.get("s1")
                return fresh is not None and not fresh.print_incomplete

            await wait_until(printed, 10, "paper copy finished")
            assert emu.sub_mode == SubMode.PAPER_OK
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_receipt_refused_at_the_close_is_rejected_once_the_fn_proves_it_unsigned(tmp_path: Path) -> None:
    """Payments below the total (refused by FF45 with 0x45): resolved as not fiscalized, then rejected
    with the device's code, never retried forever; the next receipt prints."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        try:
            await _warm(rig)
            bad = sale(900, "bad").model_copy(update={"payments": [Payment(type=PaymentType.CASH, amount_kop=100)]})
            await rig.post("bad", bad, "kkt1")
            await rig.post("good", sale(901, "good"), "kkt1")
            await wait_until(lambda: all_in(rig.store, ["bad"], frozenset({ReceiptState.REJECTED})), 10, "rejected")
            row = await rig.store.get("bad")
            assert row is not None
            assert row.reject_code == 0x45
            assert row.reject_reason
            await _finish(rig, ["good"])
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_graceful_stop_finishes_the_receipt_on_the_printer(tmp_path: Path) -> None:
    """stop(graceful=True) while a receipt prints slowly: it ends fiscalized, not left printing."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        emu = rig.emulators["kkt1"]
        try:
            await _warm(rig)
            emu.set_faults(print_delay_ms=40)
            await rig.post("slow", sale(777, "slow", lines=5), "kkt1")
            await wait_until(lambda: all_in(rig.store, ["slow"], frozenset({ReceiptState.PRINTING})), 10, "printing")
            await rig.pipeline.stop(graceful=True, timeout_s=10)
            row = await rig.store.get("slow")
            assert row is not None
            assert row.state is ReceiptState.FISCALIZED
        finally:
            await close_rig(rig)

    asyncio.run(scenario())
