"""``Store.mark_delivered_many``: the sync's one-operation-per-round delivery record, on a real buffer file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from kkt_adapter.buffer.db import connect
from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.buffer.store import Store
from kkt_adapter.export.sim.samples import sample_receipt, seed_fiscalized
from kkt_adapter.receipts.model import TaxSystem

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_each_key_is_delivered_with_its_ticket_and_its_own_chained_event(tmp_path: Path) -> None:
    """Three fiscalized keys → delivered with their tickets, one transition event each, the chain intact."""

    async def scenario() -> tuple[list[str], list[tuple[ReceiptState, str | None, int]]]:
        store = await Store.open(tmp_path / "b.db")
        try:
            keys = await seed_fiscalized(store, range(3))
            skipped = await store.mark_delivered_many([(key, f"T-{key}") for key in keys], NOW)
            rows = []
            for key in keys:
                row = await store.get(key)
                assert row is not None
                delivered = [e for e in await store.events_of(key) if e.to_state == "delivered"]
                rows.append((row.state, row.ofd_ticket, len(delivered)))
            return skipped, rows
        finally:
            await store.close()

    skipped, rows = asyncio.run(scenario())
    assert skipped == []
    assert [(state, ticket[:2] if ticket else None, n) for state, ticket, n in rows] == [
        (ReceiptState.DELIVERED, "T-", 1)
    ] * 3
    conn = connect(tmp_path / "b.db")
    try:
        assert verify_chain(conn).ok
    finally:
        conn.close()


def test_repeating_a_delivery_changes_nothing(tmp_path: Path) -> None:
    """A second call for already delivered keys skips nothing, keeps the first ticket and adds no event."""

    async def scenario() -> tuple[list[str], str | None, int]:
        store = await Store.open(tmp_path / "b.db")
        try:
            [key] = await seed_fiscalized(store, range(1))
            await store.mark_delivered_many([(key, "first")], NOW)
            skipped = await store.mark_delivered_many([(key, "second")], NOW)
            row = await store.get(key)
            assert row is not None
            return skipped, row.ofd_ticket, len(await store.events_of(key))
        finally:
            await store.close()

    skipped, ticket, events_after = asyncio.run(scenario())
    assert (skipped, ticket) == ([], "first")
    assert events_after == 4  # received, printing, fiscalized, delivered


def test_a_key_in_another_state_or_missing_is_skipped_and_the_others_delivered(tmp_path: Path) -> None:
    """An ``accepted`` key and an unknown key are returned untouched; the fiscalized key is delivered."""

    async def scenario() -> tuple[list[str], ReceiptState | None, ReceiptState | None]:
        store = await Store.open(tmp_path / "b.db")
        try:
            [key] = await seed_fiscalized(store, range(1))
            await store.insert_receipt("fresh", sample_receipt(99), "kkt1", TaxSystem.OSN)
            skipped = await store.mark_delivered_many([("fresh", "t1"), ("nope", "t2"), (key, "t3")], NOW)
            fresh, done = await store.get("fresh"), await store.get(key)
            return skipped, fresh.state if fresh else None, done.state if done else None
        finally:
            await store.close()

    skipped, fresh, done = asyncio.run(scenario())
    assert skipped == ["fresh", "nope"]
    assert (fresh, done) == (ReceiptState.ACCEPTED, ReceiptState.DELIVERED)
