"""Device time is the law: shift age, the automatic Z, the 30-day backlog and the FN block run on the
device's clock, whatever the host's clock says (real driver, emulator on a pty, the pipeline)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline_rig import Rig, all_in, close_rig, open_rig, sale, wait_until

from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.clock import utc_now
from kkt_adapter.ops.health import evaluate
from kkt_adapter.ops.health_json import health_json
from kkt_adapter.ops.snapshot import Snapshot

DONE = frozenset({ReceiptState.FISCALIZED})
SHIFT_OPEN, RECEIPT, SHIFT_CLOSE = 2, 3, 5
BOOT_1970 = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)


class HostClock:
    """The host's wall clock as a test sets it: real time moved by ``offset``, or frozen at ``fixed``
    plus the real time elapsed since it was set."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def boot_at(self, moment: datetime) -> None:
        self.offset = moment - utc_now()


def health(rig: Rig, clock: HostClock) -> dict[str, Any]:
    """``GET /v1/health``'s body for the rig's devices as the daemon would build it now."""
    now = clock()
    snap = Snapshot(taken_at=now, taken_mono=time.monotonic(), devices=rig.pipeline.health_devices())
    return health_json(evaluate(snap, now), snap)


def codes(body: dict[str, Any]) -> dict[str, str]:
    """Problem code → severity of a health body."""
    return {p["code"]: p["severity"] for p in body["problems"]}


async def fresh_watch(rig: Rig, device: str = "kkt1") -> None:
    """Wait until the worker's FN watch ran after this call (it reads the device's clock)."""
    cache = rig.pipeline.workers[device].ctx.cache
    before = cache.clock

    async def moved() -> bool:
        reading = cache.clock
        return reading is not None and reading is not before and (before is None or reading.mono > before.mono)

    await wait_until(moved, 10, "a new FN watch")
    before = cache.clock
    await wait_until(moved, 10, "a second FN watch")


@contextlib.asynccontextmanager
async def traded(tmp_path: Path, **options: Any) -> AsyncIterator[Rig]:
    """A one-device rig (``options`` to :func:`open_rig`) that has fiscalized its first receipt; closed after."""
    rig = await open_rig(tmp_path, ["kkt1"], **options)
    try:
        await rig.post("a", sale(300, "a"), "kkt1")
        await wait_until(lambda: all_in(rig.store, ["a"], DONE), 10, "a fiscalized")
        yield rig
    finally:
        await close_rig(rig)


def test_device_clock_ahead_23h50_closes_the_shift_before_the_devices_24h(tmp_path: Path) -> None:
    """The device's clock 23 h 50 min past the opening (host clock unmoved): Z report dated under 24 h,
    written to the audit log like a manual one."""

    async def scenario() -> None:
        async with traded(tmp_path, close_before_limit_min=15) as rig:
            emu = rig.emulators["kkt1"]
            emu.advance_clock(23 * 3600 + 50 * 60)

            async def closed() -> bool:
                return not emu.shift_open

            await wait_until(closed, 10, "shift closed by the worker")
            docs = emu.archive
            assert [d.doc_type for d in docs] == [SHIFT_OPEN, RECEIPT, SHIFT_CLOSE]
            assert docs[2].at - docs[0].at < timedelta(hours=24)

            async def audited() -> bool:
                return any(e.reason == "device close-shift" for e in await rig.store.audit_events())

            await wait_until(audited, 10, "the automatic Z in the audit log")

    asyncio.run(scenario())


def test_device_clock_ahead_22h10_warns_with_the_shift_age_of_the_device(tmp_path: Path) -> None:
    """Device 22 h 10 min past the opening: the page warns "shift near 24 h" with the device's age."""
    clock = HostClock()

    async def scenario() -> None:
        async with traded(tmp_path, clock=clock) as rig:
            emu = rig.emulators["kkt1"]
            emu.advance_clock(22 * 3600 + 10 * 60)
            await fresh_watch(rig)
            body = health(rig, clock)
            assert codes(body).get("shift_near_24h") == "warning"
            assert 22.1 <= body["numbers"]["devices"]["kkt1"]["shift_age_h"] < 22.3
            assert emu.shift_open

    asyncio.run(scenario())


def test_host_clock_ahead_closes_nothing_and_warns_of_nothing(tmp_path: Path) -> None:
    """The host's clock 23 h 50 min ahead (device unmoved): the shift stays open, its age is the device's."""
    clock = HostClock()

    async def scenario() -> None:
        async with traded(tmp_path, clock=clock, close_before_limit_min=15) as rig:
            emu = rig.emulators["kkt1"]
            clock.offset = timedelta(hours=23, minutes=50)
            await fresh_watch(rig)
            assert emu.shift_open
            body = health(rig, clock)
            assert "shift_near_24h" not in codes(body)
            assert body["numbers"]["devices"]["kkt1"]["shift_age_h"] < 0.1

    asyncio.run(scenario())


def test_host_booted_in_1970_before_ntp_keeps_the_legal_clocks(tmp_path: Path) -> None:
    """Host clock at 1970: receipts go through, no false alarms, and the device's 24 h still closes the shift."""
    clock = HostClock()
    clock.boot_at(BOOT_1970)

    async def scenario() -> None:
        async with traded(tmp_path, clock=clock, close_before_limit_min=15) as rig:
            emu = rig.emulators["kkt1"]
            await fresh_watch(rig)
            body = health(rig, clock)
            assert not {"shift_expired", "shift_near_24h", "fn_expired", "fn_blocked", "ofd_block"} & set(codes(body))
            numbers = body["numbers"]
            assert numbers["devices"]["kkt1"]["shift_age_h"] < 0.1
            assert numbers["devices"]["kkt1"]["fn_days_left"] > 300
            assert numbers["oldest_unsent_age_days"] < 0.1
            emu.advance_clock(23 * 3600 + 50 * 60)

            async def closed() -> bool:
                return not emu.shift_open

            await wait_until(closed, 10, "shift closed by the worker")

    asyncio.run(scenario())


def test_device_clock_26_days_ahead_counts_the_backlog_on_the_device(tmp_path: Path) -> None:
    """Oldest unsent document 26 days old on the device's clock: "4 days to block", a red backlog problem."""
    clock = HostClock()

    async def scenario() -> None:
        async with traded(tmp_path, clock=clock) as rig:
            emu = rig.emulators["kkt1"]
            emu.advance_clock(26 * 86400)
            await fresh_watch(rig)
            body = health(rig, clock)
            assert 25.9 < body["numbers"]["oldest_unsent_age_days"] < 26.1
            assert body["numbers"]["days_to_ofd_block"] == 4
            assert codes(body).get("ofd_backlog_old") == "critical"

    asyncio.run(scenario())


def test_device_clock_behind_the_host_raises_no_backlog(tmp_path: Path) -> None:
    """The host 26 days ahead of the device: the FN's backlog is fresh on its own clock, no warning."""
    clock = HostClock()

    async def scenario() -> None:
        async with traded(tmp_path, clock=clock) as rig:
            clock.offset = timedelta(days=26)
            await fresh_watch(rig)
            body = health(rig, clock)
            assert body["numbers"]["oldest_unsent_age_days"] < 0.1
            assert body["numbers"]["days_to_ofd_block"] == 30
            assert not {"ofd_backlog_old", "fn_blocked"} & set(codes(body))

    asyncio.run(scenario())


def test_fn_block_is_red_and_refuses_intake_before_any_receipt_fails(tmp_path: Path) -> None:
    """Device clock 31 days on: the FN watch alone makes the block red and intake refuse; no receipt tried."""
    clock = HostClock()

    async def scenario() -> None:
        async with traded(tmp_path, clock=clock) as rig:
            emu = rig.emulators["kkt1"]
            emu.advance_clock(31 * 86400)
            await fresh_watch(rig)
            body = health(rig, clock)
            assert codes(body).get("fn_blocked") == "critical"
            assert "30" in (rig.pipeline.intake_refusal("kkt1") or "")
            assert rig.pipeline.workers["kkt1"].ctx.cache.last_error_code is None  # no refusal by the device
            assert [d.doc_type for d in emu.archive].count(RECEIPT) == 1

    asyncio.run(scenario())
