"""``receipts.ofd_confirmed_at`` on a real SQLite file: stamped with the outbox's ``written`` in one commit, in
bulk below an FD for ``ofd.mode = device``, once and never cleared, each operation an event in the chain."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from buffer_support import NOW, Clock, fiscal, receipt, run_store
from chain_verdict import chain_ok

from kkt_adapter.buffer.outbox import event_key
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem

FN = fiscal(1).fn_serial  # the FN of buffer_support's fiscal records
MSG = b"\x2a\x08\x41\x0a" + bytes(300)


async def fiscalized(store: Store, fd: int) -> str:
    """A receipt fiscalized as FD ``fd`` of :data:`FN`; its key."""
    key = f"k{fd}"
    await store.insert_receipt(key, receipt(fd), "kkt1", TaxSystem.OSN)
    await store.begin_printing(key, fd - 1)
    await store.mark_fiscalized(key, fiscal(fd), False, "printed")
    return key


async def written(store: Store, fd: int) -> None:
    """FD ``fd`` of :data:`FN` through the outbox up to ``written``."""
    await store.outbox_put("kkt1", FN, fd, 3, MSG)
    await store.outbox_claim(10, 60, NOW)
    await store.outbox_record_answer(FN, fd, b"ticket", NOW)
    await store.outbox_mark_written(FN, fd, "written; FF39 moved on")


def keyless_updates(db: Path) -> list[dict[str, object]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT detail FROM events WHERE kind = 'update' AND key IS NULL ORDER BY seq")
        return [json.loads(r[0]) for r in rows]


def test_a_receipt_is_confirmed_in_the_commit_that_marks_its_ticket_written(tmp_path: Path) -> None:
    """``outbox_mark_written`` stamps the receipt that is that document, at the outbox row's ``written_at``,
    with its own event right before the outbox's; the state stays ``fiscalized``."""

    async def scenario(store: Store, clock: Clock) -> None:
        key = await fiscalized(store, 2)
        await store.outbox_put("kkt1", FN, 2, 3, MSG)
        await store.outbox_claim(10, 60, NOW)
        await store.outbox_record_answer(FN, 2, b"ticket", NOW)
        before = await store.get(key)
        assert before is not None
        assert before.ofd_confirmed_at is None  # an answer stored is not yet the FN's word
        clock.now = NOW + timedelta(seconds=5)
        await store.outbox_mark_written(FN, 2, "written; FF39 moved on")
        after, row = await store.get(key), await store.outbox_get(FN, 2)
        assert after is not None
        assert row is not None
        assert after.ofd_confirmed_at == row.written_at == clock.now
        assert after.state is ReceiptState.FISCALIZED
        mine, outbox_events = await store.events_of(key), await store.events_of(event_key(FN, 2))
        assert (mine[-1].actor, mine[-1].detail["fd_number"]) == ("ofd", 2)
        assert outbox_events[-1].seq == mine[-1].seq + 1  # one writer operation

    run_store(tmp_path / "b.db", scenario)
    assert chain_ok(tmp_path / "b.db")


def test_a_document_that_is_no_receipt_is_written_without_touching_receipts(tmp_path: Path) -> None:
    """Marking a shift report written stamps no receipt (another FD's receipt stays null)."""

    async def scenario(store: Store, _clock: Clock) -> None:
        key = await fiscalized(store, 2)
        await written(store, 1)
        stored = await store.get(key)
        assert stored is not None
        assert stored.ofd_confirmed_at is None

    run_store(tmp_path / "b.db", scenario)


def test_the_confirmation_is_set_once_and_never_moved(tmp_path: Path) -> None:
    """A second ``written`` of the same FD and a later bulk confirmation leave the first stamp as it is."""

    async def scenario(store: Store, clock: Clock) -> None:
        key = await fiscalized(store, 2)
        await written(store, 2)
        first = await store.get(key)
        assert first is not None
        assert first.ofd_confirmed_at == NOW
        clock.now = NOW + timedelta(hours=1)
        assert await store.outbox_mark_written(FN, 2, "FF39 again") is False
        assert await store.ofd_confirm_below(FN, 10, "FF39") == 0
        again = await store.get(key)
        assert again is not None
        assert again.ofd_confirmed_at == NOW
        assert [e.actor for e in await store.events_of(key)].count("ofd") == 1

    run_store(tmp_path / "b.db", scenario)


def test_bulk_confirmation_stamps_only_fds_below_the_first_unsent_with_one_event(tmp_path: Path) -> None:
    """``ofd_confirm_below(FN, 4)`` stamps FDs 2 and 3, not 4 nor another FN's FD 2, in one event naming the
    range and the count; a repeat changes nothing and logs nothing."""

    async def scenario(store: Store, _clock: Clock) -> None:
        keys = [await fiscalized(store, fd) for fd in (2, 3, 4)]
        await store.insert_receipt("other", receipt(99), "kkt2", TaxSystem.OSN)
        await store.begin_printing("other", 1)
        await store.mark_fiscalized("other", replace(fiscal(2), fn_serial="9999078900009999"), False, "printed")
        assert await store.ofd_confirm_below(FN, 4, "FF39: first unsent FD 4") == 2
        assert await store.ofd_confirm_below(FN, 4, "FF39: first unsent FD 4") == 0
        stamps = [(await store.get(key)).ofd_confirmed_at for key in [*keys, "other"]]  # type: ignore[union-attr]
        assert stamps == [NOW, NOW, None, None]

    run_store(tmp_path / "b.db", scenario)
    events = keyless_updates(tmp_path / "b.db")
    assert len(events) == 1
    assert {k: events[0][k] for k in ("fn_serial", "below_fd", "fd_from", "fd_to", "count")} == {
        "fn_serial": FN,
        "below_fd": 4,
        "fd_from": 2,
        "fd_to": 3,
        "count": 2,
    }
    assert chain_ok(tmp_path / "b.db")


def test_a_receipt_fiscalized_after_its_ticket_was_written_is_confirmed_at_once(tmp_path: Path) -> None:
    """A receipt that gets its FD only after the relay marked that document written (decided from the FN
    after a crash) is stamped in the commit that marks it fiscalized; another FD's receipt is not."""

    async def scenario(store: Store, clock: Clock) -> None:
        await written(store, 2)
        clock.now = NOW + timedelta(minutes=1)
        late, other = await fiscalized(store, 2), await fiscalized(store, 3)
        stamps = [(await store.get(key)).ofd_confirmed_at for key in (late, other)]  # type: ignore[union-attr]
        assert stamps == [clock.now, None]

    run_store(tmp_path / "b.db", scenario)
    assert chain_ok(tmp_path / "b.db")
