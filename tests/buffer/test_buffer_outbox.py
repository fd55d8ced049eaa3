"""The OFD outbox on a real SQLite file: idempotent put, leases safe from clock steps, answers, the chain."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from buffer_support import NOW, Clock, run_store
from chain_verdict import chain_ok

from kkt_adapter.buffer.db import open_buffer
from kkt_adapter.buffer.errors import IllegalTransition
from kkt_adapter.buffer.outbox import OutboxState, event_key
from kkt_adapter.buffer.schema import SCHEMA_VERSION
from kkt_adapter.buffer.store import Store

O = OutboxState  # noqa: E741
FN = "9999078902013267"
MSG = b"\x2a\x08\x41\x0a" + bytes(300)


def test_migration_creates_the_outbox(tmp_path: Path) -> None:
    """A new buffer is at the latest schema and has the outbox table keyed by (fn_serial, fd_number)."""
    conn = open_buffer(tmp_path / "b.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.execute(
        "INSERT INTO outbox (fn_serial, fd_number, device_id, doc_type, message, state, read_at, updated_at)"
        " VALUES ('1', 1, 'k', 3, x'00', 'read', 'a', 'a')"
    )
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO outbox (fn_serial, fd_number, device_id, doc_type, message, state, read_at, updated_at)"
            " VALUES ('1', 1, 'k', 3, x'01', 'read', 'a', 'a')"
        )
    conn.close()


def test_put_is_idempotent(tmp_path: Path) -> None:
    """The same (fn_serial, fd_number) stored twice keeps the first bytes, returns False and logs one event."""

    async def scenario(store: Store, clock: Clock) -> None:
        assert await store.outbox_put("kkt1", FN, 7, 3, MSG) is True
        assert await store.outbox_put("kkt1", FN, 7, 3, MSG + b"x") is False
        row = await store.outbox_get(FN, 7)
        assert row is not None
        assert (row.message, row.state, row.doc_type) == (MSG, O.READ, 3)
        assert len(await store.events_of(event_key(FN, 7))) == 1

    run_store(tmp_path / "b.db", scenario)


def test_claim_leases_and_a_lease_excludes(tmp_path: Path) -> None:
    """A claimed message is not claimed again while its lease runs, and is again once it ended."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 2, MSG)
        first = await store.outbox_claim(10, 30, NOW)
        assert [m.fd_number for m in first] == [1]
        assert await store.outbox_claim(10, 30, NOW + timedelta(seconds=29)) == []
        assert [m.fd_number for m in await store.outbox_claim(10, 30, NOW + timedelta(seconds=30))] == [1]

    run_store(tmp_path / "b.db", scenario)


def test_claim_oldest_first_and_limit(tmp_path: Path) -> None:
    """Claims come in the order the messages were read, at most ``limit``."""

    async def scenario(store: Store, clock: Clock) -> None:
        for fd in (5, 6, 7):
            clock.now = NOW + timedelta(seconds=fd)
            await store.outbox_put("kkt1", FN, fd, 3, MSG)
        claimed = await store.outbox_claim(2, 30, NOW + timedelta(minutes=1))
        assert [m.fd_number for m in claimed] == [5, 6]

    run_store(tmp_path / "b.db", scenario)


def test_lease_survives_a_clock_stepped_back(tmp_path: Path) -> None:
    """After the wall clock steps back 1 h, a leased message is claimable again at once (not in an hour)."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 3, MSG)
        assert len(await store.outbox_claim(10, 30, NOW)) == 1
        stepped_back = NOW - timedelta(hours=1)
        assert [m.fd_number for m in await store.outbox_claim(10, 30, stepped_back)] == [1]

    run_store(tmp_path / "b.db", scenario)


def test_retry_time_survives_a_clock_stepped_back(tmp_path: Path) -> None:
    """A retry time set before the clock stepped back 1 h waits at most ``max_wait_s``, not an hour more."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 3, MSG)
        await store.outbox_claim(10, 30, NOW)
        await store.outbox_retry(FN, 1, NOW + timedelta(seconds=60), "connection refused", NOW)
        assert await store.outbox_claim(10, 30, NOW + timedelta(seconds=59), max_wait_s=300) == []
        back = NOW - timedelta(hours=1)
        assert [m.fd_number for m in await store.outbox_claim(10, 30, back, max_wait_s=300)] == [1]
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert (row.attempts, row.last_error) == (1, "connection refused")

    run_store(tmp_path / "b.db", scenario)


def test_answer_is_recorded_once_and_never_claimed_again(tmp_path: Path) -> None:
    """The first answer stays; a second is refused (False); an answered message is not claimed for the OFD."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 3, MSG)
        await store.outbox_claim(10, 30, NOW)
        assert await store.outbox_record_answer(FN, 1, b"ticket-1", NOW) is True
        assert await store.outbox_record_answer(FN, 1, b"ticket-2", NOW) is False
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert (row.state, row.answer, row.lease_until) == (O.ANSWERED, b"ticket-1", None)
        assert await store.outbox_claim(10, 30, NOW + timedelta(hours=1)) == []

    run_store(tmp_path / "b.db", scenario)


def test_answers_due_per_fn_lowest_fd_first(tmp_path: Path) -> None:
    """Answers due are those of the device's FN only, by FD number."""

    async def scenario(store: Store, clock: Clock) -> None:
        for fd in (9, 8):
            await store.outbox_put("kkt1", FN, fd, 3, MSG)
            await store.outbox_record_answer(FN, fd, b"t", NOW)
        await store.outbox_put("kkt1", "9999000000000001", 1, 3, MSG)
        await store.outbox_record_answer("9999000000000001", 1, b"t", NOW)
        due = await store.outbox_answers_due("kkt1", FN, 10)
        assert [m.fd_number for m in due] == [8, 9]

    run_store(tmp_path / "b.db", scenario)


def test_written_is_terminal_and_idempotent(tmp_path: Path) -> None:
    """Marking written twice returns False the second time; a written message leaves the answers due."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 3, MSG)
        await store.outbox_record_answer(FN, 1, b"t", NOW)
        assert await store.outbox_mark_written(FN, 1, "FF39: queue moved on") is True
        assert await store.outbox_mark_written(FN, 1, "again") is False
        assert await store.outbox_answers_due("kkt1", FN, 10) == []
        assert await store.outbox_record_answer(FN, 1, b"x", NOW) is False
        with pytest.raises(IllegalTransition):
            await store.outbox_dead(FN, 1, "late", NOW)

    run_store(tmp_path / "b.db", scenario)


def test_refused_keeps_code_and_replay_fetches_anew(tmp_path: Path) -> None:
    """An FN refusal is stored with its code and meaning; an operator replay sends it to the OFD again, audited."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 3, MSG)
        await store.outbox_record_answer(FN, 1, b"t", NOW)
        await store.outbox_mark_refused(FN, 1, 0x20, "FN 20h: message from the OFD cannot be accepted")
        row = await store.outbox_get(FN, 1)
        assert row is not None
        assert (row.state, row.refuse_code) == (O.REFUSED, 0x20)
        await store.outbox_replay(FN, 1, "admin")
        assert [m.fd_number for m in await store.outbox_claim(10, 30, NOW)] == [1]
        assert any(e.kind == "audit" and e.reason == "outbox replay" for e in await store.audit_events())

    run_store(tmp_path / "b.db", scenario)


def test_dead_letter_keeps_reason_and_answer(tmp_path: Path) -> None:
    """A dead message keeps its reason and the offending answer, is listed, and an ack keeps it dead."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 3, 5, MSG)
        await store.outbox_dead(FN, 3, "ticket for another FN", NOW, answer=b"bad")
        [dead] = await store.outbox_list(O.DEAD)
        assert (dead.fd_number, dead.dead_reason, dead.answer) == (3, "ticket for another FN", b"bad")
        await store.outbox_ack_dead(FN, 3, "admin")
        row = await store.outbox_get(FN, 3)
        assert row is not None
        assert (row.state, row.dead_acked) == (O.DEAD, True)
        assert (await store.outbox_counts())["dead"] == 1

    run_store(tmp_path / "b.db", scenario)


def test_every_step_is_a_chained_event(tmp_path: Path) -> None:
    """read → answered → written leaves three events under the message's key and a chain that verifies."""

    async def scenario(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 3, MSG)
        await store.outbox_record_answer(FN, 1, b"t", NOW)
        await store.outbox_mark_written(FN, 1, "FF39: queue moved on")
        steps = [(e.from_state, e.to_state) for e in await store.events_of(event_key(FN, 1))]
        assert steps == [(None, "read"), ("read", "answered"), ("answered", "written")]

    run_store(tmp_path / "b.db", scenario)
    assert chain_ok(tmp_path / "b.db")


def test_outbox_survives_reopen(tmp_path: Path) -> None:
    """A committed message and answer are there after the store is closed and opened again (real file)."""

    async def first(store: Store, clock: Clock) -> None:
        await store.outbox_put("kkt1", FN, 1, 3, MSG)
        await store.outbox_record_answer(FN, 1, b"ticket", NOW)

    async def second(store: Store, clock: Clock) -> None:
        [due] = await store.outbox_answers_due("kkt1", FN, 10)
        assert (due.message, due.answer) == (MSG, b"ticket")

    run_store(tmp_path / "b.db", first)
    run_store(tmp_path / "b.db", second)
