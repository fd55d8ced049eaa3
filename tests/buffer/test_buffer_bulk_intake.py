"""A group's new receipts in one statement (``ops.insert_receipts`` through ``Writer.run_each``): each caller
is told exactly what the buffer holds, with the seq it holds, whatever else is in the group."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from buffer_support import NOW, hold_writer, receipt

from kkt_adapter.buffer import ops
from kkt_adapter.buffer.errors import BufferFull, IdempotencyConflict
from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.buffer.writer import Tx, Writer
from kkt_adapter.receipts.model import TaxSystem


def new(key: str, variant: int = 0) -> ops.NewReceipt:
    return ops.NewReceipt.prepare(key, receipt(variant), "kkt1", TaxSystem.OSN, NOW)


def in_one_group(writer: Writer, items: list[ops.NewReceipt], extra: Any = None) -> list[Any]:
    """Queue ``items`` (and ``extra``, an operation, in the middle) while the writer is parked, so that they
    all run in one group; return each outcome (a result or the exception)."""
    _, release, parked = hold_writer(writer)

    async def scenario() -> list[Any]:
        calls = [asyncio.ensure_future(writer.run_each(ops.insert_receipts, item, intake=True)) for item in items]
        if extra is not None:
            calls.insert(len(calls) // 2, asyncio.ensure_future(writer.run(extra)))
        await asyncio.sleep(0.05)  # every call is queued behind the parked operation
        release.set()
        await asyncio.wrap_future(parked)
        return list(await asyncio.gather(*calls, return_exceptions=True))

    return asyncio.run(scenario())


def stored(path: Path) -> dict[str, tuple[int, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT key, seq, body_hash FROM receipts").fetchall()
        assert verify_chain(conn).ok
        return {key: (seq, digest) for key, seq, digest in rows}
    finally:
        conn.close()


def test_a_groups_new_receipts_get_the_seqs_the_buffer_holds(tmp_path: Path) -> None:
    """Seventy new receipts (three statements) after a gap in the seqs (a deleted row): each record's seq is
    its row's seq."""
    path = tmp_path / "b.db"
    writer = Writer(path)
    try:
        in_one_group(writer, [new("old-1"), new("old-2")])
        writer.submit(lambda tx: tx.conn.execute("DELETE FROM receipts WHERE key = 'old-2'")).result(timeout=10)
        outcomes = in_one_group(writer, [new(f"k{n}", n) for n in range(70)])
    finally:
        writer.close()
    rows = stored(path)
    assert [created for _, created in outcomes] == [True] * 70
    assert {record.key: record.seq for record, _ in outcomes} == {f"k{n}": rows[f"k{n}"][0] for n in range(70)}
    assert rows["k0"][0] == 3  # AUTOINCREMENT never reuses the deleted seq 2 (the highest row's)


def test_a_stored_key_in_the_group_gets_its_replay_and_the_others_are_stored(tmp_path: Path) -> None:
    """One key already stored (same body → replay, other body → 409) among new ones: each gets its own outcome."""
    path = tmp_path / "b.db"
    writer = Writer(path)
    try:
        in_one_group(writer, [new("same", 1), new("other", 2)])
        outcomes = in_one_group(writer, [new("a", 3), new("same", 1), new("b", 4), new("other", 9), new("c", 5)])
    finally:
        writer.close()
    assert [o[1] if isinstance(o, tuple) else type(o) for o in outcomes] == [
        True,
        False,
        True,
        IdempotencyConflict,
        True,
    ]
    assert set(stored(path)) == {"same", "other", "a", "b", "c"}
    assert stored(path)["other"][1] == new("other", 2).digest


def test_one_key_twice_in_a_group_is_stored_once(tmp_path: Path) -> None:
    """A POS retrying while its first try is still queued: the first stores it, the second is its replay."""
    path = tmp_path / "b.db"
    writer = Writer(path)
    try:
        outcomes = in_one_group(writer, [new("twice", 1), new("x", 2), new("twice", 1), new("twice", 7)])
    finally:
        writer.close()
    first, _, again, other = outcomes
    assert first[1] is True
    assert again[1] is False
    assert again[0].seq == first[0].seq
    assert isinstance(other, IdempotencyConflict)
    assert set(stored(path)) == {"twice", "x"}


def test_a_group_larger_than_the_room_left_fills_it_and_refuses_the_rest(tmp_path: Path) -> None:
    """Capacity 5 with 2 stored: of six new receipts in one group the first three are stored, three refused."""
    path = tmp_path / "b.db"
    writer = Writer(path, capacity=5)
    try:
        in_one_group(writer, [new("p1"), new("p2")])
        outcomes = in_one_group(writer, [new(f"n{n}", n) for n in range(6)])
    finally:
        writer.close()
    assert [isinstance(o, BufferFull) for o in outcomes] == [False] * 3 + [True] * 3
    assert len(stored(path)) == 5
    assert writer.pending == 5


def test_a_failing_operation_in_the_group_leaves_the_receipts_stored(tmp_path: Path) -> None:
    """Another operation of the group raising: the group runs again op by op, every receipt still stored once."""
    path = tmp_path / "b.db"
    writer = Writer(path)

    def broken(tx: Tx) -> None:
        tx.conn.execute("INSERT INTO settings (name, value, updated_at) VALUES ('x', 'y', 'z')")
        raise RuntimeError("this operation fails after writing")

    try:
        outcomes = in_one_group(writer, [new(f"k{n}", n) for n in range(6)], extra=broken)
    finally:
        writer.close()
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1
    assert isinstance(failed[0], RuntimeError)
    rows = stored(path)
    assert set(rows) == {f"k{n}" for n in range(6)}
    assert {o[0].key: o[0].seq for o in outcomes if isinstance(o, tuple)} == {k: v[0] for k, v in rows.items()}
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM settings WHERE name = 'x'").fetchone()[0] == 0
    finally:
        conn.close()


def test_a_retry_in_a_later_statement_of_the_group_is_its_replay(tmp_path: Path) -> None:
    """Forty receipts in one group, the 36th a retry of the 4th (same body): 39 stored, the retry answered
    with the stored record; the other receipts of its statement are stored one by one."""
    path = tmp_path / "b.db"
    writer = Writer(path)
    items = [new(f"a{n}", n) for n in range(40)]
    items[35] = new("a3", 3)
    try:
        outcomes = in_one_group(writer, items)
    finally:
        writer.close()
    rows = stored(path)
    assert len(rows) == 39
    assert [o[1] for o in outcomes] == [n != 35 for n in range(40)]
    assert outcomes[35][0].seq == outcomes[3][0].seq == rows["a3"][0]
    assert {o[0].key: o[0].seq for o in outcomes} == {k: v[0] for k, v in rows.items()}
