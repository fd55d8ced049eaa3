"""Start-up recovery of receipts left ``printing`` by a crash, and devices served independently."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipeline_rig import FAST, all_in, check_exactly_once, fast_driver, make_emulator, sale, settings_for, wait_until

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.kkt.protocol import receipt as codec
from kkt_adapter.kkt.types import Mode
from kkt_adapter.pipeline.service import Pipeline
from kkt_adapter.receipts.model import TaxSystem

DONE = frozenset({ReceiptState.FISCALIZED})


async def _crashed_mid_print(tmp_path: Path, emu: Emulator, close_sent: bool) -> Store:
    """A buffer whose receipt ``c1`` was left ``printing`` by a daemon that died after the intent:
    either after the FN signed it (``close_sent``) or with the receipt still open on the device."""
    store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
    receipt = sale(2500, "c1", lines=2)
    await store.insert_receipt("c1", receipt, "kkt1", TaxSystem.OSN)
    driver = ShtrihDriver(str(emu.link_path), policy=FAST)
    try:
        driver.connect()
        driver.open_shift()
        await store.begin_printing("c1", driver.fn_status().last_fd_number)
        if close_sent:
            driver.fiscalize(receipt, TaxSystem.OSN)
        else:  # the receipt opened and its lines registered: what a daemon dying before FF45 leaves
            bodies = codec.receipt_bodies(codec.Passwords(1, 30), receipt, TaxSystem.OSN)
            for body in [bodies.open, *(body for line in bodies.lines for body in line)]:
                driver._call(body)
    finally:
        driver.close()
    return store


def _recover(tmp_path: Path, close_sent: bool) -> None:
    async def scenario() -> None:
        with make_emulator(tmp_path, "kkt1") as emu:
            store = await _crashed_mid_print(tmp_path, emu, close_sent)
            assert (emu.mode == Mode.OPEN_DOCUMENT) is not close_sent
            settings = settings_for({"kkt1": emu.link_path}, tmp_path / "buffer.db")
            pipeline = Pipeline(settings, store, driver_factory=fast_driver)
            await pipeline.start()
            try:
                await wait_until(lambda: all_in(store, ["c1"], DONE), 10, "c1 fiscalized")
                row = await store.get("c1")
                assert row is not None
                check_exactly_once([row], emu)
                events = [e.to_state for e in await store.events_of("c1")]
                expected = ["unknown", "fiscalized"] if close_sent else ["unknown", "accepted", "printing"]
                assert all(state in events for state in expected), events
            finally:
                await pipeline.stop()
                await store.close()

    asyncio.run(scenario())


def test_crash_after_the_fn_signed_is_resolved_as_fiscalized(tmp_path: Path) -> None:
    """A receipt left printing whose document is in the FN becomes fiscalized with the FN's numbers."""
    _recover(tmp_path, close_sent=True)


def test_crash_before_close_cancels_and_prints_again(tmp_path: Path) -> None:
    """A receipt left printing with no FN document: the open receipt is cancelled, it is printed once."""
    _recover(tmp_path, close_sent=False)


def test_one_unplugged_device_does_not_stop_the_other(tmp_path: Path) -> None:
    """With kkt2's port gone, kkt1 keeps fiscalizing; kkt2's receipts wait and print when it is back."""

    async def scenario() -> None:
        with (
            make_emulator(tmp_path, "kkt1") as emu1,
            make_emulator(tmp_path, "kkt2") as emu2,
        ):
            settings = settings_for({"kkt1": emu1.link_path, "kkt2": emu2.link_path}, tmp_path / "buffer.db")
            store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
            pipeline = Pipeline(settings, store, driver_factory=fast_driver)
            await pipeline.start()
            try:
                emu2.vanish_port(None)
                assert emu2.wait_port(False, 5)
                for i in range(4):
                    await store.insert_receipt(f"a{i}", sale(100 + i, f"a{i}"), "kkt1", TaxSystem.OSN)
                    await store.insert_receipt(f"b{i}", sale(200 + i, f"b{i}"), "kkt2", TaxSystem.OSN)
                ones, twos = [f"a{i}" for i in range(4)], [f"b{i}" for i in range(4)]
                await wait_until(lambda: all_in(store, ones, DONE), 10, "kkt1's receipts fiscalized")
                assert await all_in(store, twos, frozenset({ReceiptState.ACCEPTED}))
                assert pipeline.intake_refusal("kkt2") is None
                assert not {c.device_id: c for c in pipeline.device_snapshots()}["kkt2"].connected
                emu2.restore_port()
                await wait_until(lambda: all_in(store, twos, DONE), 15, "kkt2's receipts fiscalized")
                check_exactly_once([r for k in ones if (r := await store.get(k))], emu1)
                check_exactly_once([r for k in twos if (r := await store.get(k))], emu2)
            finally:
                await pipeline.stop()
                await store.close()

    asyncio.run(scenario())
