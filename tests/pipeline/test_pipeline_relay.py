"""The device worker's relay step with real parts: the Store on a SQLite file, the emulator on a pty, the
running pipeline. The OFD's side is played by :func:`answer_all` (claim from the outbox, answer with a
ticket the emulated FN accepts — its test MAC, ``docs/emulator.md`` — record the answer), as the sync does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from chain_verdict import chain_ok
from pipeline_rig import Rig, all_in, close_rig, fast_driver, fn_serial_of, open_rig, sale, wait_until

from kkt_adapter.buffer.outbox import OutboxState, event_key
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.clock import utc_now
from kkt_adapter.config.settings import OfdMode, OfdSettings, Settings
from kkt_adapter.emulator import ofd_message as emu_ofd
from kkt_adapter.ofd.wire import parse_message
from kkt_adapter.pipeline.commands import Action
from kkt_adapter.pipeline.service import Pipeline

DEVICE = "kkt1"
O = OutboxState  # noqa: E741
FN = fn_serial_of(DEVICE)


def ticket_for(message: bytes) -> bytes:
    """What an OFD accepting the message answers (signed with the emulator's test key)."""
    parsed = parse_message(message)
    return emu_ofd.ofd_ticket(parsed.fn_serial, parsed.fd_number, datetime(2026, 3, 2, 9, 0))


async def answer_all(rig: Rig) -> int:
    """The sync's part once: claim every due message, store a valid ticket for each; how many."""
    now = datetime.now(UTC)
    claimed = await rig.store.outbox_claim(100, 60, now)
    for row in claimed:
        assert await rig.store.outbox_record_answer(row.fn_serial, row.fd_number, ticket_for(row.message), now)
    return len(claimed)


async def drain(rig: Rig, timeout_s: float = 20.0) -> None:
    """Answer whatever the worker commits until the FN's queue is empty."""
    emu = rig.emulators[DEVICE]

    async def empty() -> bool:
        await answer_all(rig)
        return emu.unsent_count == 0

    await wait_until(empty, timeout_s, "the FN's OFD queue drained")


async def restart(rig: Rig, settings: Settings | None = None) -> None:
    """A new pipeline on the same store and emulators (with ``settings`` when given), as after a daemon
    restart (the old one is stopped)."""
    rig.pipeline = Pipeline(settings or rig.pipeline.settings, rig.store, utc_now, driver_factory=fast_driver)
    await rig.pipeline.start()


def test_every_fn_document_is_relayed_and_the_queue_drains(tmp_path: Path) -> None:
    """Shift open, receipts and a shift close each reach the outbox once, each ticket is written once, and the
    FN's unsent count reaches 0; the event chain verifies."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            keys = [f"r{i}" for i in range(4)]
            for i, key in enumerate(keys):
                await rig.post(key, sale(1000 + i, key), DEVICE)
            await wait_until(lambda: all_in(rig.store, keys, frozenset({ReceiptState.FISCALIZED})), 10, "fiscalized")
            await asyncio.wait_for(rig.pipeline.workers[DEVICE].submit(Action.CLOSE_SHIFT, "test").future, 10)
            await drain(rig)
            await wait_until(lambda: _written(rig, len(emu.archive)), 10, "every FD marked written")
            written = await rig.store.outbox_list(O.WRITTEN)
            assert sorted(m.fd_number for m in written) == [doc.fd_number for doc in emu.archive]
            assert {m.doc_type for m in written} == {2, 3, 5}  # shift open, receipts, shift close
            assert emu.snapshot()["ofd_relay"]["tickets_taken"] == len(emu.archive)
            assert emu.snapshot()["ofd_relay"]["tickets_refused"] == 0
            for row in written:
                reads = [e for e in await rig.store.events_of(event_key(FN, row.fd_number)) if e.to_state == "read"]
                assert len(reads) == 1
            assert rig.pipeline.workers[DEVICE].ctx.cache.unsent_count == 0
        finally:
            await close_rig(rig)

    asyncio.run(scenario())
    assert chain_ok(tmp_path / "buffer.db")


def test_a_refused_ticket_is_an_alarm_not_a_loop(tmp_path: Path) -> None:
    """When the FN refuses the ticket, the row is ``refused`` with the FN's code and meaning, the alarm is
    raised once, and the ticket is not written again by itself."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            emu.set_faults(refuse_ticket_code=0x20)
            alarms: list[tuple[str, str]] = []
            rig.pipeline.hooks.device_error = lambda device, code: alarms.append((device, code))
            await rig.post("a", sale(1000, "a"), DEVICE)
            await wait_until(lambda: _stored(rig, 1), 10, "FD 1 read into the outbox")
            assert await answer_all(rig) == 1
            await wait_until(lambda: _in_state(rig, 1, O.REFUSED), 10, "FD 1 refused")
            row = await rig.store.outbox_get(FN, 1)
            assert row is not None
            assert row.refuse_code == 0x20
            assert "Сообщение от ОФД не может быть принято" in (row.refuse_reason or "")
            await asyncio.sleep(1.0)  # several idle cycles of the worker
            assert emu.snapshot()["ofd_relay"]["tickets_refused"] == 1
            assert alarms == [(DEVICE, "ofd_ticket_refused")]
            assert (await rig.store.outbox_counts())["refused"] == 1  # what health and alerts read
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_an_answer_the_fn_already_took_is_not_written_again(tmp_path: Path) -> None:
    """After a crash between the last FF33 and its commit (simulated: the FN holds the ticket, the outbox still
    says ``answered``), the worker sees from FF39 that the FN moved on and marks it written without writing."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            await rig.post("a", sale(1000, "a"), DEVICE)
            await wait_until(lambda: _stored(rig, 1), 10, "FD 1 read into the outbox")
            await rig.pipeline.stop()
            row = await rig.store.outbox_get(FN, 1)
            assert row is not None
            await rig.store.outbox_record_answer(FN, 1, ticket_for(row.message), datetime.now(UTC))
            emu.ofd_ack(1)  # the FN took it before the "crash"
            await restart(rig)
            await wait_until(lambda: _in_state(rig, 1, O.WRITTEN), 10, "FD 1 marked written")
            assert emu.snapshot()["ofd_relay"]["tickets_taken"] == 0  # nothing was written
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_a_message_read_twice_is_stored_once(tmp_path: Path) -> None:
    """A restart after the read was committed does not store the head document again (same key)."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        try:
            await rig.post("a", sale(1000, "a"), DEVICE)
            await wait_until(lambda: _stored(rig, 1), 10, "FD 1 read into the outbox")
            await rig.pipeline.stop()
            await restart(rig)
            await asyncio.sleep(1.0)
            events = await rig.store.events_of(event_key(FN, 1))
            assert [e.to_state for e in events] == ["read"]
            assert (await rig.store.outbox_counts())["read"] == 1
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_a_message_that_changes_while_read_is_read_again(tmp_path: Path) -> None:
    """With the length fault the first read fails cleanly; a later step stores the whole message."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            emu.set_faults(ofd_length_change=True)
            await rig.post("a", sale(1000, "a"), DEVICE)
            await wait_until(lambda: _stored(rig, 1), 10, "FD 1 read into the outbox")
            row = await rig.store.outbox_get(FN, 1)
            assert row is not None
            assert parse_message(row.message).fd_number == 1
            assert emu.snapshot()["faults"]["ofd_length_change"] is False
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


async def _written(rig: Rig, count: int) -> bool:
    return (await rig.store.outbox_counts())["written"] == count


async def _stored(rig: Rig, fd: int) -> bool:
    return await rig.store.outbox_get(FN, fd) is not None


async def _in_state(rig: Rig, fd: int, state: OutboxState) -> bool:
    row = await rig.store.outbox_get(FN, fd)
    return row is not None and row.state is state


def test_device_mode_leaves_the_fn_queue_alone(tmp_path: Path) -> None:
    """With ``ofd.mode = device`` (the KKT has its own network) the worker reads nothing into the outbox."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        try:
            await rig.pipeline.stop()
            await restart(rig, rig.pipeline.settings.model_copy(update={"ofd": OfdSettings(mode=OfdMode.DEVICE)}))
            await rig.post("a", sale(1000, "a"), DEVICE)
            await wait_until(lambda: all_in(rig.store, ["a"], frozenset({ReceiptState.FISCALIZED})), 10, "fiscalized")
            await asyncio.sleep(0.5)
            assert sum((await rig.store.outbox_counts()).values()) == 0
            assert rig.emulators[DEVICE].unsent_count == 2
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_a_slow_fn_still_drains(tmp_path: Path) -> None:
    """With every FF30–FF33 answer delayed 150 ms (within the link's answer timeout) the queue still drains
    and nothing is read or written twice."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            emu.set_faults(ofd_delay_ms=150)
            await rig.post("a", sale(1000, "a"), DEVICE)
            await wait_until(lambda: all_in(rig.store, ["a"], frozenset({ReceiptState.FISCALIZED})), 10, "fiscalized")
            await drain(rig)
            await wait_until(lambda: _written(rig, 2), 10, "both marked written")
            assert emu.snapshot()["ofd_relay"]["tickets_taken"] == 2
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


async def _confirmed(rig: Rig, key: str) -> bool:
    stored = await rig.store.get(key)
    return stored is not None and stored.ofd_confirmed_at is not None


async def _fiscal_fd(rig: Rig, key: str) -> int:
    stored = await rig.store.get(key)
    assert stored is not None
    assert stored.fd_number is not None
    return stored.fd_number


def test_a_ticket_taken_before_a_crash_still_confirms_its_receipt(tmp_path: Path) -> None:
    """A crash after the FN took the receipt's ticket but before the mark (the FN holds it, the outbox says
    ``answered``, the receipt null) is healed at restart by the "FN already took it" path: the receipt gets
    ``ofd_confirmed_at`` and nothing is written twice."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            await rig.post("a", sale(1000, "a"), DEVICE)
            await wait_until(lambda: all_in(rig.store, ["a"], frozenset({ReceiptState.FISCALIZED})), 10, "fiscalized")
            fd = await _fiscal_fd(rig, "a")

            async def receipt_read() -> bool:  # the sync's part for the FDs before the receipt's only
                for row in await rig.store.outbox_claim(100, 60, datetime.now(UTC)):
                    if row.fd_number < fd:
                        await rig.store.outbox_record_answer(FN, row.fd_number, ticket_for(row.message), row.read_at)
                return await _stored(rig, fd)

            await wait_until(receipt_read, 10, f"FD {fd} (the receipt) read into the outbox")
            await rig.pipeline.stop()
            row = await rig.store.outbox_get(FN, fd)
            assert row is not None
            await rig.store.outbox_record_answer(FN, fd, ticket_for(row.message), datetime.now(UTC))
            emu.ofd_ack(fd)  # the FN took it; the "crash" came before outbox_mark_written
            assert not await _confirmed(rig, "a")
            await restart(rig)
            await wait_until(lambda: _confirmed(rig, "a"), 10, "the receipt confirmed after the restart")
            assert await _in_state(rig, fd, O.WRITTEN)
            assert emu.snapshot()["ofd_relay"]["tickets_taken"] == fd - 1  # the shift's FDs only, not the receipt's
        finally:
            await close_rig(rig)

    asyncio.run(scenario())
    assert chain_ok(tmp_path / "buffer.db")


async def _device_mode(rig: Rig) -> None:
    """Restart the pipeline with ``ofd.mode = device`` (the KKT sends to the OFD by itself)."""
    await rig.pipeline.stop()
    await restart(rig, rig.pipeline.settings.model_copy(update={"ofd": OfdSettings(mode=OfdMode.DEVICE)}))


async def _two_fiscalized_in_device_mode(rig: Rig) -> None:
    """``ofd.mode = device``, then receipts "a" and "b" sold and fiscalized (none acknowledged by the OFD)."""
    await _device_mode(rig)
    for key in ("a", "b"):
        await rig.post(key, sale(1000, key), DEVICE)
    fiscal = frozenset({ReceiptState.FISCALIZED})
    await wait_until(lambda: all_in(rig.store, ["a", "b"], fiscal), 10, "fiscalized")


def test_device_mode_confirms_only_receipts_below_the_fns_first_unsent_fd(tmp_path: Path) -> None:
    """With ``ofd.mode = device`` nothing is confirmed while the FN queues everything; once the KKT's queue
    moves past the first receipt (emulator ``ofd_ack``), the FN watch's FF39 confirms it and not the next."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            await _two_fiscalized_in_device_mode(rig)
            await asyncio.sleep(1.2)  # two FN watches (every 0.5 s in the rig) with the whole queue unsent
            assert not await _confirmed(rig, "a")
            emu.ofd_ack(await _fiscal_fd(rig, "a"))
            await wait_until(lambda: _confirmed(rig, "a"), 10, "the first receipt confirmed from FF39")
            await asyncio.sleep(1.2)
            assert not await _confirmed(rig, "b")
            assert emu.unsent_count == 1
        finally:
            await close_rig(rig)

    asyncio.run(scenario())


def test_device_mode_confirms_every_receipt_in_one_event_when_the_queue_empties(tmp_path: Path) -> None:
    """When the KKT's queue is empty every receipt of the FN is confirmed by one bulk operation: one keyless
    event naming the FN and the FD range, and no further event at the next watches."""

    async def scenario() -> None:
        rig = await open_rig(tmp_path, [DEVICE])
        emu = rig.emulators[DEVICE]
        try:
            await _two_fiscalized_in_device_mode(rig)
            emu.ofd_ack()
            await wait_until(lambda: _confirmed(rig, "b"), 10, "the receipts confirmed from FF39")
            assert await _confirmed(rig, "a")
            await asyncio.sleep(1.2)  # more watches: nothing left to confirm, nothing logged
        finally:
            await close_rig(rig)

    asyncio.run(scenario())
    with contextlib.closing(sqlite3.connect(tmp_path / "buffer.db")) as conn:
        rows = conn.execute("SELECT actor, detail FROM events WHERE kind = 'update' AND key IS NULL").fetchall()
    assert len(rows) == 1
    actor, detail = rows[0][0], json.loads(rows[0][1])
    assert actor == "ofd"
    assert (detail["fn_serial"], detail["fd_from"], detail["fd_to"], detail["count"]) == (FN, 2, 3, 2)
    assert chain_ok(tmp_path / "buffer.db")
