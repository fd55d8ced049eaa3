"""Shifts and the FN watch with the real driver and emulator: auto open/close, 24 h, FN block."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipeline_rig import all_in, close_rig, open_rig, sale, wait_until

from kkt_adapter.buffer.states import ReceiptState

DONE = frozenset({ReceiptState.FISCALIZED})
SHIFT_OPEN, RECEIPT, SHIFT_CLOSE = 2, 3, 5


def test_expired_shift_is_closed_and_a_new_one_opened_before_the_receipt(tmp_path: Path) -> None:
    """Device clock 25 h later (mode 3): Z report, open shift, then the receipt in shift 2."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        emu = rig.emulators["kkt1"]
        try:
            await rig.post("a", sale(300, "a"), "kkt1")
            await wait_until(lambda: all_in(rig.store, ["a"], DONE), 10, "a fiscalized")
            emu.advance_clock(25 * 3600)
            await rig.post("b", sale(400, "b"), "kkt1")
            await wait_until(lambda: all_in(rig.store, ["b"], DONE), 10, "b fiscalized")
            assert [d.doc_type for d in emu.archive] == [SHIFT_OPEN, RECEIPT, SHIFT_CLOSE, SHIFT_OPEN, RECEIPT]
            row = await rig.store.get("b")
            assert row is not None
            assert row.shift_number == 2
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_scheduled_close_at_queues_a_z_report_between_receipts(tmp_path: Path) -> None:
    """With shift.close_at set the cron job is registered; running it closes the open shift."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"], close_at="23:00")
        emu = rig.emulators["kkt1"]
        try:
            scheduler = rig.pipeline._scheduler
            assert scheduler is not None
            job = scheduler.get_job("pipeline.close_shifts")
            assert job is not None
            assert (job.next_run_time.hour, job.next_run_time.minute) == (23, 0)
            await rig.post("a", sale(300, "a"), "kkt1")
            await wait_until(lambda: all_in(rig.store, ["a"], DONE), 10, "a fiscalized")
            await rig.pipeline.close_shifts()

            async def closed() -> bool:
                return not emu.shift_open

            await wait_until(closed, 10, "shift closed by the scheduled job")
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_fn_block_refuses_intake_until_the_ofd_backlog_is_sent(tmp_path: Path) -> None:
    """Unsent documents older than 30 days: intake refuses with a reason and the receipt waits (not rejected);
    once the OFD confirmed them the refusal ends and the receipt is fiscalized."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        emu = rig.emulators["kkt1"]
        try:
            await rig.post("a", sale(300, "a"), "kkt1")
            await wait_until(lambda: all_in(rig.store, ["a"], DONE), 10, "a fiscalized")
            emu.advance_clock(31 * 86400)
            await rig.post("b", sale(400, "b"), "kkt1")

            async def refused() -> bool:
                return rig.pipeline.intake_refusal("kkt1") is not None

            await wait_until(refused, 10, "intake refusal")
            assert "30" in (rig.pipeline.intake_refusal("kkt1") or "")
            assert await all_in(rig.store, ["b"], frozenset({ReceiptState.ACCEPTED}))
            emu.ofd_ack()

            async def accepted_again() -> bool:
                return rig.pipeline.intake_refusal("kkt1") is None

            await wait_until(accepted_again, 10, "refusal lifted")
            await wait_until(lambda: all_in(rig.store, ["b"], DONE), 10, "b fiscalized")
        finally:
            await close_rig(rig)

    asyncio.run(scenario())
