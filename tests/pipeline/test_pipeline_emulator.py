"""The pipeline with real parts: Store on a SQLite file, the real driver, the emulator on a pty."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipeline_rig import all_in, check_exactly_once, close_rig, open_rig, sale, wait_until

from kkt_adapter.buffer.states import ReceiptState

DONE = frozenset({ReceiptState.FISCALIZED})


def test_receipts_are_fiscalized_once_each_in_order(tmp_path: Path) -> None:
    """Accepted receipts are fiscalized in acceptance order, each as its own FN receipt document."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, ["kkt1"])
        try:
            keys = [f"r{i}" for i in range(5)]
            for i, key in enumerate(keys):
                await rig.post(key, sale(1000 + i, key, lines=2), "kkt1")
            await wait_until(lambda: all_in(rig.store, keys, DONE), 10, "all fiscalized")
            rows = [await rig.store.get(k) for k in keys]
            fiscal = [r for r in rows if r is not None]
            assert [r.fd_number for r in fiscal] == sorted(r.fd_number for r in fiscal if r.fd_number)
            check_exactly_once(fiscal, rig.emulators["kkt1"])
            assert all(r.shift_number == 1 and r.receipt_number for r in fiscal)
        finally:
            await close_rig(rig)

    asyncio.run(scenario())
