"""The FN read made ahead of the next receipt (while the last result commits) and its freshness rule."""

from __future__ import annotations

import asyncio
from datetime import UTC
from pathlib import Path

from pipeline_rig import all_in, close_rig, fast_driver, make_emulator, open_rig, sale, wait_until

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.clock import utc_now
from kkt_adapter.config.settings import DeviceSettings, ShiftSettings
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.pipeline.context import DeviceContext, Hooks
from kkt_adapter.pipeline.intent import look_ahead
from kkt_adapter.receipts.model import TaxSystem

DONE = frozenset({ReceiptState.FISCALIZED})


def test_back_to_back_receipts_record_the_fn_state_just_before_each(tmp_path: Path) -> None:
    """Receipts printed one after another each record as intent the FD of the document just before their
    own (the FN read made ahead is the FN's state right before the receipt)."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        try:
            keys = [f"r{i}" for i in range(6)]
            for i, key in enumerate(keys):
                await rig.post(key, sale(1000 + i, key, lines=2), "kkt1")
            await wait_until(lambda: all_in(rig.store, keys, DONE), 15, "all fiscalized")
            rows = [await rig.store.get(key) for key in keys]
            pairs = [(row.intent_last_fd, row.fd_number) for row in rows if row is not None]
            assert len(pairs) == len(keys)
            assert all(fd is not None and intent == fd - 1 for intent, fd in pairs), pairs
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_look_ahead_is_fresh_only_until_the_next_driver_call(tmp_path: Path) -> None:
    """look_ahead returns the oldest accepted receipt and the FN's current last FD; any later driver call
    (even a status read) makes it stale, and with no receipt waiting it returns None."""

    async def scenario() -> None:
        emu = make_emulator(tmp_path, "kkt1").start()
        store = await Store.open(tmp_path / "buffer.db", min_free_bytes=0)
        device = DeviceSettings(id="kkt1", port=str(emu.link_path))
        driver = fast_driver(device)
        assert isinstance(driver, ShtrihDriver)
        ctx = DeviceContext(device, ShiftSettings(), store, driver, utc_now, UTC, Hooks())
        try:
            await ctx.io(driver.connect)
            await ctx.io(driver.open_shift)
            assert await look_ahead(ctx) is None
            await store.insert_receipt("a", sale(500, "a"), "kkt1", TaxSystem.OSN)
            await store.insert_receipt("b", sale(700, "b"), "kkt1", TaxSystem.OSN)
            ahead = await look_ahead(ctx)
            assert ahead is not None
            assert ahead.receipt.key == "a"
            assert ahead.fn.last_fd_number == emu.last_fd == 1
            assert ahead.fresh(ctx)
            await ctx.io(driver.status)
            assert not ahead.fresh(ctx)
        finally:
            ctx.shutdown()
            await store.close()
            emu.stop()

    asyncio.run(scenario())
