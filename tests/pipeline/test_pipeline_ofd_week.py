"""A week of trading with the OFD away for five days, in emulated time (the emulated KKT's clock moves a day
per shift): the alarm rises at 3 days, the FN never blocks, and once the OFD is back every FN document reaches
it, the FN's queue empties, no ticket is written twice, and the chain verifies.

The CI run sells ``OFD_WEEK_RECEIPTS_PER_DAY`` receipts a day (default 12); ``scripts/ofd-week`` runs the long
version (150 a day: 1,050 receipts).
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

import pytest
from ofd_relay_rig import DEVICE, RelayRig, chain_ok, relay_rig
from pipeline_rig import all_in, sale, wait_until

from kkt_adapter.buffer.outbox import OutboxState, event_key
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.ofd.sim.control import spawned
from kkt_adapter.ops.health import evaluate
from kkt_adapter.pipeline.commands import Action

PER_DAY = int(os.environ.get("OFD_WEEK_RECEIPTS_PER_DAY", "12"))
DAYS = 7
DOWN_DAYS = range(1, 6)  # the OFD refuses connections from day 1 to day 5 (five days)
DAY_S = 86_400


def ofd_stage(rr: RelayRig) -> int:
    """The 30-day clock's stage (0, 3, 7, 20, 25) the health model reports now."""
    snap = rr.feed.snapshot()
    problems = [p for p in evaluate(snap, datetime.now().astimezone()).problems if p.component == "ofd"]
    return max((int(p.details.get("stage", 0)) for p in problems), default=0)


async def trade_one_day(rr: RelayRig, day: int) -> None:
    keys = [f"d{day}-r{i}" for i in range(PER_DAY)]
    for i, key in enumerate(keys):
        await rr.rig.post(key, sale(1000 + i, key), DEVICE)
    await wait_until(
        lambda: all_in(rr.rig.store, keys, frozenset({ReceiptState.FISCALIZED})), 30 + PER_DAY, f"day {day} sold"
    )
    await asyncio.wait_for(rr.rig.pipeline.workers[DEVICE].submit(Action.CLOSE_SHIFT, "test").future, 30)


@pytest.mark.timeout(900)
def test_a_week_with_the_ofd_away_five_days(tmp_path: Path) -> None:
    """≥ 7 shifts of receipts; OFD down days 1–5: stage-3 alarm on day 4, never blocked; afterwards the FN's
    queue is empty, every FD is at the simulator, each ticket was taken once, the chain verifies."""
    stages: dict[int, int] = {}

    async def week() -> None:
        async with relay_rig(tmp_path, sim) as rr:
            for day in range(DAYS):
                if day == DOWN_DAYS.start:
                    sim.control.fault("refuse")
                if day == DOWN_DAYS.stop:
                    sim.control.clear()
                    rr.relay.worker.wake()
                await trade_one_day(rr, day)
                await asyncio.sleep(0.3)  # the device worker's FF39 reaches the health cache
                stages[day] = ofd_stage(rr)
                assert not rr.rig.pipeline.workers[DEVICE].ctx.cache.fn_blocked, f"FN blocked on day {day}"
                rr.emu.advance_clock(DAY_S)
            await wait_until(lambda: _drained(rr), 120, "the FN's OFD queue empty")
            archive = [doc.fd_number for doc in rr.emu.archive]
            assert len([d for d in rr.emu.archive if d.doc_type == 3]) == PER_DAY * DAYS
            at_ofd = {row["fd_number"] for row in sim.control.received()}
            assert set(archive) <= at_ofd, sorted(set(archive) - at_ofd)
            relay_state = rr.emu.snapshot()["ofd_relay"]
            assert relay_state["tickets_taken"] == len(archive), "each FD's ticket taken exactly once"
            assert relay_state["tickets_refused"] == 0
            written = await rr.rig.store.outbox_list(OutboxState.WRITTEN, limit=100_000)
            assert sorted(m.fd_number for m in written) == archive
            for fd in archive[:: max(1, len(archive) // 50)]:
                events = await rr.rig.store.events_of(event_key(rr.emu.snapshot()["fn"]["serial"], fd))
                assert [e.to_state for e in events].count("written") == 1

    with spawned() as sim:
        asyncio.run(week())
    assert stages[0] == 0, stages  # the OFD answered on day 0
    assert stages[2] == 0, stages  # day-1 documents are 1 day old on day 2
    assert stages[4] == 3, stages  # the oldest unsent document (day 1) is 3 days old on day 4
    assert chain_ok(tmp_path / "buffer.db")


async def _drained(rr: RelayRig) -> bool:
    return rr.emu.unsent_count == 0 and (await rr.rig.store.outbox_counts())["written"] == len(rr.emu.archive)
