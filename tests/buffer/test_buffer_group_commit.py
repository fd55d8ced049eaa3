"""The single writer's group commit: many operations, one transaction, every future resolved only after COMMIT."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from buffer_support import NOW, hold_writer, receipt

from kkt_adapter.buffer import ops
from kkt_adapter.buffer.db import open_buffer
from kkt_adapter.buffer.errors import StorageUnavailable
from kkt_adapter.buffer.writer import Tx, Writer
from kkt_adapter.receipts.model import TaxSystem

N = 20


def committed_keys(path: Path) -> set[str]:
    """Keys visible to a fresh connection: only committed rows."""
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT key FROM receipts")}
    finally:
        conn.close()


def insert_op(key: str, variant: int = 0) -> Any:
    def op(tx: Tx) -> Any:
        return ops.insert_receipt(tx, ops.NewReceipt.prepare(key, receipt(variant), "kkt1", TaxSystem.OSN, NOW))

    return op


def test_queued_operations_share_one_transaction_and_resolve_after_its_commit(tmp_path: Path) -> None:
    """Twenty inserts queued together run in one group; each future resolves when its row is already committed."""
    path = tmp_path / "b.db"
    writer = Writer(path, group_max=256)
    _, release, blocked = hold_writer(writer)
    groups: list[Tx] = []

    def tracked(key: str, variant: int) -> Any:
        insert = insert_op(key, variant)

        def op(tx: Tx) -> Any:
            groups.append(tx)
            return insert(tx)

        return op

    futures = [writer.submit(tracked(f"k{n}", n), intake=True) for n in range(N)]
    seen_at_resolution: dict[str, bool] = {}
    lock = threading.Lock()

    def on_done(key: str) -> Any:
        def check(future: Future[Any]) -> None:
            with lock:
                seen_at_resolution[key] = key in committed_keys(path)

        return check

    for n, future in enumerate(futures):
        future.add_done_callback(on_done(f"k{n}"))
    assert not any(f.done() for f in futures)
    release.set()
    blocked.result(timeout=10)
    results = [f.result(timeout=10) for f in futures]
    writer.close()
    assert all(created for _, created in results)
    assert seen_at_resolution == {f"k{n}": True for n in range(N)}
    assert len({stored.seq for stored, _ in results}) == N
    assert len(groups) == N
    assert all(tx is groups[0] for tx in groups)  # one transaction, hence one commit and one fsync


def test_one_failing_operation_does_not_undo_the_others_in_its_group(tmp_path: Path) -> None:
    """An operation that raises is rolled back to its savepoint; the rest of the group commits."""
    path = tmp_path / "b.db"
    writer = Writer(path)
    _, release, blocked = hold_writer(writer)

    def broken(tx: Tx) -> None:
        ops.insert_receipt(tx, ops.NewReceipt.prepare("bad", receipt(9), "kkt1", TaxSystem.OSN, NOW))
        raise ValueError("boom after writing")

    good_a = writer.submit(insert_op("a"))
    bad = writer.submit(broken)
    good_b = writer.submit(insert_op("b"))
    release.set()
    blocked.result(timeout=10)
    assert good_a.result(timeout=10)[1]
    assert good_b.result(timeout=10)[1]
    with pytest.raises(ValueError, match="boom"):
        bad.result(timeout=10)
    writer.close()
    assert committed_keys(path) == {"a", "b"}


def test_a_failed_commit_fails_every_future_of_the_group(tmp_path: Path) -> None:
    """When COMMIT itself fails (a deferred constraint), no future of the group succeeds and nothing is stored."""
    path = tmp_path / "b.db"
    open_buffer(path).close()
    with sqlite3.connect(path) as conn:  # a deferred foreign key is checked only at COMMIT
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    writer = Writer(path)
    _, release, blocked = hold_writer(writer)
    good = writer.submit(insert_op("a"))
    poison = writer.submit(lambda tx: tx.conn.execute("INSERT INTO child (pid) VALUES (42)") and None)
    release.set()
    blocked.result(timeout=10)  # the blocker ran alone in the group before
    for future in (good, poison):
        with pytest.raises(StorageUnavailable, match="cannot be written"):
            future.result(timeout=10)
    assert writer.last_error is not None
    after = writer.submit(insert_op("b"))
    assert after.result(timeout=10)[1]  # the writer goes on after a failed group
    writer.close()
    assert committed_keys(path) == {"b"}


def test_group_size_is_bounded_by_group_max(tmp_path: Path) -> None:
    """With ``group_max=4`` the writer never runs more than four operations in one transaction."""
    path = tmp_path / "b.db"
    writer = Writer(path, group_max=4)
    _, release, blocked = hold_writer(writer)
    seen: list[Tx] = []  # the Tx objects themselves (kept alive, so identity is per group)

    def counting(tx: Tx) -> None:
        seen.append(tx)

    futures = [writer.submit(counting) for _ in range(10)]
    release.set()
    blocked.result(timeout=10)
    for future in futures:
        future.result(timeout=10)
    writer.close()
    groups = [sum(1 for t in seen if t is tx) for tx in {id(t): t for t in seen}.values()]
    assert sum(groups) == 10
    assert max(groups) <= 4
    assert len(groups) >= 3


def test_the_writer_survives_an_error_outside_any_operation(tmp_path: Path) -> None:
    """A failing commit listener does not kill the writer thread: later operations still run and commit."""
    calls: list[set[str]] = []

    def listener(keys: set[str]) -> None:
        calls.append(keys)
        raise RuntimeError("listener bug")

    writer = Writer(tmp_path / "b.db", on_commit=listener)
    assert writer.submit(insert_op("a")).result(timeout=10)[1]
    assert writer.submit(insert_op("b")).result(timeout=10)[1]
    writer.close()
    assert calls == [{"a"}, {"b"}]
    assert committed_keys(tmp_path / "b.db") == {"a", "b"}


def test_a_lone_operation_never_waits_for_company(tmp_path: Path) -> None:
    """One POS posting one receipt at a time: each group has one operation, and none waits the gather window."""
    writer = Writer(tmp_path / "b.db", group_wait_s=5.0)
    try:
        for n in range(3):
            started = time.monotonic()
            writer.submit(insert_op(f"k{n}", n), intake=True).result(timeout=10)
            assert time.monotonic() - started < 2.5
    finally:
        writer.close()


def test_while_receipts_arrive_together_a_group_waits_for_more(tmp_path: Path) -> None:
    """After a group with company, a new receipt arriving within the gather window joins the one before it;
    a device's write (not intake) is never held back by the window."""
    writer = Writer(tmp_path / "b.db", group_wait_s=1.0)
    seen: list[Tx] = []

    def counting(tx: Tx) -> None:
        seen.append(tx)

    try:
        _, release, blocked = hold_writer(writer)
        together = [writer.submit(counting, intake=True) for _ in range(2)]  # queued behind the parked one
        release.set()
        for future in [blocked, *together]:
            future.result(timeout=10)
        first = writer.submit(counting, intake=True)
        time.sleep(0.2)  # far inside the window, far longer than a group takes without one
        second = writer.submit(counting, intake=True)
        first.result(timeout=10)
        second.result(timeout=10)
        started = time.monotonic()
        writer.submit(counting).result(timeout=10)  # the last group had company; this is a device's write
        device_write_s = time.monotonic() - started
    finally:
        writer.close()
    assert seen[2] is seen[3]
    assert device_write_s < 0.5
