"""The ticket relay with real parts: Store on a SQLite file, the emulator on a pty, the running pipeline.

Receipts are fiscalized by the pipeline, then put to ``delivered`` through the sync's own store calls
(``claim_for_sync`` + ``mark_delivered``); the device worker must then write each OFD ticket into the FN.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from pipeline_rig import Rig, all_in, close_rig, fn_serial_of, open_rig, receipt_docs, sale, wait_until

from kkt_adapter.buffer.states import ReceiptState

FISCALIZED = frozenset({ReceiptState.FISCALIZED})
DEVICE = "kkt1"


def ticket_of(key: str) -> str:
    return f"T-{key.upper()}-OK"


async def fiscalize(rig: Rig, keys: list[str]) -> None:
    for i, key in enumerate(keys):
        await rig.post(key, sale(1000 + i, key), DEVICE)
    await wait_until(lambda: all_in(rig.store, keys, FISCALIZED), 10, "all fiscalized")


async def deliver(rig: Rig, tickets: dict[str, str]) -> None:
    """What the sync does on an OFD success: claim, then mark delivered with the OFD's ticket."""
    claimed = await rig.store.claim_for_sync(100, 60, datetime.now(UTC))
    assert set(tickets) <= {row.key for row in claimed}
    for key, ticket in tickets.items():
        await rig.store.mark_delivered(key, ticket, datetime.now(UTC))


async def nothing_pending(rig: Rig) -> bool:
    return not await rig.store.fn_unacked(DEVICE, fn_serial_of(DEVICE), 100)


def test_delivered_receipts_leave_the_fn_queue(tmp_path: Path) -> None:
    """After delivery every receipt's ticket is written into the FN; only the shift report stays unsent."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            keys = [f"r{i}" for i in range(12)]  # more than one relay batch (8)
            await fiscalize(rig, keys)
            assert emu.unsent_count == 13  # the shift-open report + 12 receipts
            await deliver(rig, {key: ticket_of(key) for key in keys})
            await wait_until(lambda: nothing_pending(rig), 10, "every ticket written into the FN")
            by_fd = {doc.fd_number: doc for doc in receipt_docs(emu)}
            for key in keys:
                row = await rig.store.get(key)
                assert row is not None
                assert row.fd_number is not None
                assert by_fd[row.fd_number].ofd_ticket == ticket_of(key)
            unsent = [doc for doc in emu.archive if not doc.ticket_received]
            assert [doc.doc_type for doc in unsent] == [2]  # the shift-open report: not an OFD delivery of ours
            emu.ofd_ack(unsent[0].fd_number)
            assert emu.unsent_count == 0
            cache = rig.pipeline.workers[DEVICE].ctx.cache
            assert cache.unsent_count == 1  # what health shows: the drained queue (read before the ack)
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_only_delivered_receipts_get_a_ticket(tmp_path: Path) -> None:
    """A fiscalized receipt the OFD has not confirmed stays unsent in the FN."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            await fiscalize(rig, ["a", "b"])
            claimed = await rig.store.claim_for_sync(100, 60, datetime.now(UTC))
            await rig.store.mark_delivered("a", ticket_of("a"), datetime.now(UTC))
            assert {row.key for row in claimed} == {"a", "b"}
            await wait_until(lambda: nothing_pending(rig), 10, "the delivered ticket written")
            b = await rig.store.get("b")
            assert b is not None
            assert b.fd_number is not None
            assert [doc.fd_number for doc in emu.archive if not doc.ticket_received] == [1, b.fd_number]
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_fn_refusals_never_block_the_relay(tmp_path: Path) -> None:
    """An FD the FN already confirmed is marked written, a ticket that cannot be written is given up,
    and the next receipts' tickets are still written."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            keys = ["first", "toolong", "third"]
            await fiscalize(rig, keys)
            first = await rig.store.get("first")
            assert first is not None
            assert first.fd_number is not None
            emu.ofd_ack(first.fd_number)  # the FN has its ticket already (e.g. its own network sent it)
            await deliver(rig, {"first": "T1", "toolong": "X" * 65, "third": "T3"})
            await wait_until(lambda: nothing_pending(rig), 10, "every delivered receipt handled")
            reasons = {key: (await rig.store.events_of(key))[-1].reason for key in keys}
            assert reasons["first"].startswith("the FN already holds an OFD ticket")
            assert reasons["toolong"].startswith("OFD ticket not written to the FN")
            assert reasons["third"] == "OFD ticket written to the FN"
            third = await rig.store.get("third")
            assert third is not None
            assert [doc.ofd_ticket for doc in emu.archive if doc.fd_number == third.fd_number] == ["T3"]
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_receipts_still_print_after_relaying(tmp_path: Path) -> None:
    """A receipt posted after the relay ran is fiscalized as usual (the relay only runs between receipts)."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        try:
            await fiscalize(rig, ["a"])
            await deliver(rig, {"a": "TA"})
            await wait_until(lambda: nothing_pending(rig), 10, "ticket written")
            await fiscalize(rig, ["b"])
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_relay_lifts_the_fn_block_while_receipts_wait(tmp_path: Path) -> None:
    """With the FN blocked by 30-day-old unsent receipts and a receipt waiting, delivering the old ones
    lets the relay write their tickets, the block lifts and the waiting receipt is fiscalized."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            await fiscalize(rig, ["a", "b"])
            emu.ofd_ack(1)  # the shift-open report: not ours to confirm (see docs/export-api.md)
            emu.advance_clock(31 * 24 * 3600)
            assert emu.is_fn_blocked()
            await rig.post("c", sale(500, "c"), DEVICE)
            cache = rig.pipeline.workers[DEVICE].ctx.cache
            await wait_until(lambda: _is(cache.fn_blocked), 10, "the worker meets the FN block")
            assert (await rig.store.get("c")) is not None
            await deliver(rig, {"a": "TA", "b": "TB"})
            await wait_until(lambda: all_in(rig.store, ["c"], FISCALIZED), 15, "c fiscalized after the relay")
            assert not emu.is_fn_blocked()
            assert await nothing_pending(rig)
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


async def _is(value: bool) -> bool:
    return value
