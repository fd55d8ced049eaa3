"""Every OFD fault of the simulator against the whole relay (emulated FN on a pty, TCP to ``kkt-adapter
ofd-sim``): each ends in its defined state, no bad ticket is ever written into the FN, and once the fault is
gone (a dead or refused message replayed by an operator) the FN's queue drains with each ticket taken once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from ofd_relay_rig import DEVICE, RelayRig, chain_ok, relay_rig
from pipeline_rig import fn_serial_of, sale, wait_until

from kkt_adapter.buffer.outbox import OutboxMessage, OutboxState
from kkt_adapter.ofd.sim.control import RunningSim, spawned

FN = fn_serial_of(DEVICE)
O = OutboxState  # noqa: E741
RETRIED = {
    "refuse": "connect",
    "stall": "no complete answer",
    "close_mid_body": "closed after",
    "header_only": "header_only",
    "bad_signature": "signature",
    "wrong_fn": "fn_serial",
    "wrong_fd": "fd_number",
    "bad_crc": "crc",
}


@pytest.fixture(scope="module")
def module_sim() -> Iterator[RunningSim]:
    with spawned() as sim:
        yield sim


@pytest.fixture
def sim(module_sim: RunningSim) -> RunningSim:
    module_sim.control.clear()
    module_sim.control.reset()
    return module_sim


async def head(rr: RelayRig) -> OutboxMessage | None:
    return await rr.rig.store.outbox_get(FN, 1)


async def drains_after(rr: RelayRig, sim: RunningSim) -> None:
    """Clear the fault, replay what is in the DLQ, and wait for the FN's queue to empty."""
    sim.control.clear()
    for state in (O.DEAD, O.REFUSED):
        for row in await rr.rig.store.outbox_list(state):
            await rr.rig.store.outbox_replay(row.fn_serial, row.fd_number, "test")
    rr.relay.worker.wake()

    async def empty() -> bool:
        return rr.emu.unsent_count == 0 and (await rr.rig.store.outbox_counts())["written"] == len(rr.emu.archive)

    await wait_until(empty, 30, "the FN's queue to drain")
    assert rr.emu.snapshot()["ofd_relay"]["tickets_taken"] == len(rr.emu.archive)


@pytest.mark.parametrize("fault", sorted(RETRIED))
def test_an_answer_that_is_no_ticket_is_retried_and_never_written(tmp_path: Path, sim: RunningSim, fault: str) -> None:
    """The message stays ``read`` with the failure's reason; the FN is given nothing; then it drains."""

    async def case() -> None:
        async with relay_rig(tmp_path, sim) as rr:
            sim.control.fault(fault)
            await rr.rig.post("a", sale(1000, "a"), DEVICE)

            async def retried() -> bool:
                row = await head(rr)
                return row is not None and row.attempts >= 2

            await wait_until(retried, 30, f"FD 1 retried under {fault}")
            row = await head(rr)
            assert row is not None
            assert row.state is O.READ
            assert RETRIED[fault] in (row.last_error or ""), row.last_error
            relay = rr.emu.snapshot()["ofd_relay"]
            assert (relay["tickets_taken"], relay["tickets_refused"]) == (0, 0)
            await drains_after(rr, sim)

    asyncio.run(case())
    assert chain_ok(tmp_path / "buffer.db")


def test_an_ofd_answer_code_is_dead_lettered_with_its_code(tmp_path: Path, sim: RunningSim) -> None:
    """A signed ticket carrying answer code 14 goes to the DLQ at once; the FN is given nothing."""

    async def case() -> None:
        async with relay_rig(tmp_path, sim) as rr:
            sim.control.fault("ofd_code", ofd_code=14)
            await rr.rig.post("a", sale(1000, "a"), DEVICE)

            async def dead() -> bool:
                row = await head(rr)
                return row is not None and row.state is O.DEAD

            await wait_until(dead, 30, "FD 1 dead-lettered")
            row = await head(rr)
            assert row is not None
            assert "OFD answer code 14" in (row.dead_reason or "")
            assert rr.emu.snapshot()["ofd_relay"]["tickets_taken"] == 0
            await drains_after(rr, sim)

    asyncio.run(case())


def test_a_bad_mac_is_refused_by_the_fn_once_and_not_looped(tmp_path: Path, sim: RunningSim) -> None:
    """Only the FN can check the MAC: it refuses the ticket (04h), the row is ``refused``, nothing retries it."""

    async def case() -> None:
        async with relay_rig(tmp_path, sim) as rr:
            sim.control.fault("bad_mac")
            await rr.rig.post("a", sale(1000, "a"), DEVICE)

            async def refused() -> bool:
                row = await head(rr)
                return row is not None and row.state is O.REFUSED

            await wait_until(refused, 30, "FD 1 refused by the FN")
            await asyncio.sleep(0.5)
            row = await head(rr)
            assert row is not None
            assert row.refuse_code == 0x04
            relay = rr.emu.snapshot()["ofd_relay"]
            assert (relay["tickets_taken"], relay["tickets_refused"]) == (0, 1)
            await drains_after(rr, sim)

    asyncio.run(case())


def test_an_answer_in_one_byte_writes_is_a_ticket(tmp_path: Path, sim: RunningSim) -> None:
    """A ticket written one byte at a time is stored and taken by the FN."""

    async def case() -> None:
        async with relay_rig(tmp_path, sim) as rr:
            sim.control.fault("split")
            await rr.rig.post("a", sale(1000, "a"), DEVICE)

            async def written() -> bool:
                row = await head(rr)
                return row is not None and row.state is O.WRITTEN

            await wait_until(written, 30, "FD 1's split ticket written")
            assert sim.control.stats()["answers"].get("split", 0) >= 1
            await drains_after(rr, sim)

    asyncio.run(case())
