"""The store on a real SQLite file: idempotent intake, capacity, transitions that refuse illegal moves."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from buffer_support import NOW, fiscal, receipt

from kkt_adapter.buffer.errors import BufferFull, DocumentTaken, IdempotencyConflict, IllegalTransition, NotFound
from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem

S = ReceiptState
OSN = TaxSystem.OSN


async def _open(path: Path, capacity: int = 500_000) -> Store:
    return await Store.open(path, capacity=capacity, clock=lambda: NOW)


def test_same_key_same_body_returns_the_same_receipt(tmp_path: Path) -> None:
    """A replay of a stored key with the same body returns that receipt, created=False, and stores nothing new."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db", 100)
        first, created = await store.insert_receipt("k1", receipt(), "kkt1", OSN)
        again, created_again = await store.insert_receipt("k1", receipt(), "kkt1", OSN)
        assert (created, created_again) == (True, False)
        assert (again.seq, again.body_hash, again.state) == (first.seq, first.body_hash, S.ACCEPTED)
        assert store.pending == 1
        assert len(await store.events_of("k1")) == 1
        await store.close()

    asyncio.run(scenario())


def test_same_key_other_body_is_a_conflict(tmp_path: Path) -> None:
    """The same key with a different body raises IdempotencyConflict and leaves the stored receipt as it was."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db", 100)
        first, _ = await store.insert_receipt("k1", receipt(0), "kkt1", OSN)
        with pytest.raises(IdempotencyConflict):
            await store.insert_receipt("k1", receipt(1), "kkt1", OSN)
        stored = await store.get("k1")
        assert stored is not None
        assert stored.body_hash == first.body_hash
        await store.close()

    asyncio.run(scenario())


def test_the_body_id_does_not_change_the_body_hash(tmp_path: Path) -> None:
    """The client key inside the body is not part of the hash: only the receipt's content is."""
    from kkt_adapter.buffer.ops import body_hash
    from kkt_adapter.receipts.model import ReceiptIn

    with_id = ReceiptIn.model_validate({**receipt().model_dump(mode="json"), "id": "k1"})
    assert body_hash(with_id) == body_hash(receipt())
    assert body_hash(receipt(0)) != body_hash(receipt(1))


def test_a_full_buffer_refuses_new_keys_and_accepts_again_when_one_leaves(tmp_path: Path) -> None:
    """At capacity a new key raises BufferFull (a replay still answers); once a receipt is finished there is room."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db", 3)
        for n in range(3):
            await store.insert_receipt(f"k{n}", receipt(n), "kkt1", OSN)
        with pytest.raises(BufferFull) as caught:
            await store.insert_receipt("k3", receipt(3), "kkt1", OSN)
        assert (caught.value.pending, caught.value.capacity) == (3, 3)
        assert (await store.insert_receipt("k0", receipt(0), "kkt1", OSN))[1] is False
        await store.begin_printing("k0", last_fd=0)
        await store.mark_fiscalized("k0", fiscal(1), False, "printed")
        with pytest.raises(BufferFull):  # fiscalized still waits for the OFD: still pending
            await store.insert_receipt("k3", receipt(3), "kkt1", OSN)
        await store.mark_delivered("k0", "ticket-1", NOW)
        assert (await store.insert_receipt("k3", receipt(3), "kkt1", OSN))[1] is True
        assert await store.get("k3") is not None
        await store.close()

    asyncio.run(scenario())


def test_capacity_is_counted_from_the_file_after_a_restart(tmp_path: Path) -> None:
    """The pending count is re-read on open, so a restart does not reset the limit."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db", 2)
        await store.insert_receipt("k0", receipt(0), "kkt1", OSN)
        await store.insert_receipt("k1", receipt(1), "kkt1", OSN)
        await store.close()
        store = await _open(tmp_path / "b.db", 2)
        assert store.pending == 2
        with pytest.raises(BufferFull):
            await store.insert_receipt("k2", receipt(2), "kkt1", OSN)
        await store.close()

    asyncio.run(scenario())


def test_an_illegal_transition_raises_and_changes_nothing(tmp_path: Path) -> None:
    """accepted → fiscalized skips printing: it raises, the row keeps its state, no event is written."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db")
        await store.insert_receipt("k1", receipt(), "kkt1", OSN)
        with pytest.raises(IllegalTransition):
            await store.mark_fiscalized("k1", fiscal(1), False, "printed")
        with pytest.raises(IllegalTransition):
            await store.mark_dead("k1", "nope", None, NOW)
        with pytest.raises(IllegalTransition):
            await store.replay_dead("k1", "admin")
        stored = await store.get("k1")
        assert stored is not None
        assert stored.state is S.ACCEPTED
        assert stored.fd_number is None
        assert [e.to_state for e in await store.events_of("k1")] == ["accepted"]
        await store.close()

    asyncio.run(scenario())


def test_a_transition_of_an_unknown_key_raises_not_found(tmp_path: Path) -> None:
    """Moving a receipt that does not exist is NotFound, not a silent no-op."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db")
        with pytest.raises(NotFound):
            await store.begin_printing("ghost", last_fd=0)
        await store.close()

    asyncio.run(scenario())


def test_the_whole_lifecycle_is_journaled(tmp_path: Path) -> None:
    """accepted → printing → unknown → fiscalized → dead → fiscalized → delivered, each an event in a valid chain."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db")
        await store.insert_receipt("k1", receipt(), "kkt1", OSN)
        await store.begin_printing("k1", last_fd=41)
        await store.mark_unknown("k1", "timeout after close")
        await store.mark_fiscalized("k1", fiscal(42), True, "found in the FN")
        await store.mark_dead("k1", "rejected by the OFD", '{"code": 3}', NOW)
        assert await store.replay_dead("k1", "admin") == 1
        await store.mark_delivered("k1", "ticket-42", NOW)
        await store.mark_delivered("k1", "ticket-42", NOW)  # idempotent
        stored = await store.get("k1")
        assert stored is not None
        assert (stored.state, stored.fd_number, stored.ofd_ticket, stored.print_attempts) == (
            S.DELIVERED,
            42,
            "ticket-42",
            1,
        )
        transitions = [(e.from_state, e.to_state) for e in await store.events_of("k1") if e.kind == "transition"]
        assert transitions == [
            (None, "accepted"),
            ("accepted", "printing"),
            ("printing", "unknown"),
            ("unknown", "fiscalized"),
            ("fiscalized", "dead"),
            ("dead", "fiscalized"),
            ("fiscalized", "delivered"),
        ]
        await store.close()

    asyncio.run(scenario())
    with sqlite3.connect(tmp_path / "b.db") as conn:
        assert verify_chain(conn).ok


def test_listing_pages_by_seq_and_filters_by_state(tmp_path: Path) -> None:
    """Keyset paging returns every receipt once in acceptance order; the state filter keeps only that state."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db")
        for n in range(7):
            await store.insert_receipt(f"k{n}", receipt(n), "kkt1", OSN)
        await store.begin_printing("k2", last_fd=0)
        seen: list[str] = []
        after = 0
        while page := await store.listing(None, after, 3):
            seen += [r.key for r in page]
            after = page[-1].seq
        assert seen == [f"k{n}" for n in range(7)]
        assert [r.key for r in await store.listing(S.PRINTING, 0, 10)] == ["k2"]
        assert await store.count_by_state() == {**{s.value: 0 for s in S}, "accepted": 6, "printing": 1}
        await store.close()

    asyncio.run(scenario())


def test_fn_document_of_another_receipt_is_a_store_error_and_writes_nothing(tmp_path: Path) -> None:
    """Recording an FN document already given to another receipt raises DocumentTaken (never an sqlite3
    error) and leaves the second receipt as it was."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db")
        for key in ("k1", "k2"):
            await store.insert_receipt(key, receipt(), "kkt1", OSN)
            await store.begin_printing(key, 0)
        await store.mark_fiscalized("k1", fiscal(1), False, "fiscalized")
        with pytest.raises(DocumentTaken):
            await store.mark_fiscalized("k2", fiscal(1), False, "fiscalized")
        second = await store.get("k2")
        assert second is not None
        assert second.state is S.PRINTING
        await store.close()

    asyncio.run(scenario())


def test_find_replay_decides_same_key_other_body_in_the_buffer(tmp_path: Path) -> None:
    """find_replay: the stored receipt for the same body, None for a new key, IdempotencyConflict for another
    body, and nothing written in any case."""

    async def scenario() -> None:
        store = await _open(tmp_path / "b.db")
        stored, _ = await store.insert_receipt("k1", receipt(0), "kkt1", OSN)
        again = await store.find_replay("k1", receipt(0))
        assert again is not None
        assert again.seq == stored.seq
        assert await store.find_replay("k2", receipt(0)) is None
        with pytest.raises(IdempotencyConflict):
            await store.find_replay("k1", receipt(1))
        assert len(await store.events_of("k1")) == 1
        await store.close()

    asyncio.run(scenario())
