"""The pipeline's read-documents action against the emulated KKT on a real pty, through the real driver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import DeviceSettings, ShiftSettings
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.pipeline import actions
from kkt_adapter.pipeline.commands import Action
from kkt_adapter.pipeline.context import DeviceContext, Hooks

SHIFTS = 40  # 80 shift documents: more than one read chunk


async def _read(tmp_path: Path, emu: Emulator, from_fd: int, to_fd: int) -> tuple[dict[str, object], float | None]:
    driver = ShtrihDriver(str(emu.link_path), 115200)
    store = await Store.open(tmp_path / "buffer.db")
    device = DeviceSettings(id="kkt1", port=str(emu.link_path))
    ctx = DeviceContext(device, ShiftSettings(), store, driver, lambda: datetime.now(UTC), ZoneInfo("UTC"), Hooks())
    try:
        await ctx.io(driver.connect)
        for _ in range(SHIFTS):
            await ctx.io(driver.open_shift)
            await ctx.io(driver.z_report)
        answer = await actions.execute(ctx, Action.READ_DOCUMENTS, {"from_fd": from_fd, "to_fd": to_fd})
        return answer, ctx.cache.heartbeat_mono
    finally:
        ctx.shutdown()
        await store.close()


def test_read_documents_returns_the_archive_in_order_clamped_to_the_last_document(tmp_path: Path) -> None:
    """Reading FD 1…5000 of an FN with 80 documents returns those 80 in order (shift open/close alternating,
    each with its shift number), the FN's serial and last FD, nothing missing, and renews the heartbeat."""
    with Emulator(tmp_path / "kkt1.pty", tmp_path / "kkt1.json") as emu:
        answer, heartbeat = asyncio.run(_read(tmp_path, emu, 1, 5000))
    documents = answer["documents"]
    assert isinstance(documents, list)
    assert answer["last_fd_number"] == 2 * SHIFTS
    assert answer["missing"] == []
    assert answer["fn_serial"] == emu.snapshot()["fn"]["serial"]
    assert [d["fd_number"] for d in documents] == list(range(1, 2 * SHIFTS + 1))
    assert [d["doc_type"] for d in documents[:4]] == [2, 5, 2, 5]
    assert [d["shift_number"] for d in documents[-2:]] == [SHIFTS, SHIFTS]
    assert heartbeat is not None


def test_read_documents_reads_only_the_asked_range(tmp_path: Path) -> None:
    """FD 51…60 gives exactly those ten documents."""
    with Emulator(tmp_path / "kkt1.pty", tmp_path / "kkt1.json") as emu:
        answer, _ = asyncio.run(_read(tmp_path, emu, 51, 60))
    documents = answer["documents"]
    assert isinstance(documents, list)
    assert [d["fd_number"] for d in documents] == list(range(51, 61))
