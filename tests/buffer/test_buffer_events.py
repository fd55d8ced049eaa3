"""The hash-chained event log: it verifies as written and names the first row that was edited or deleted."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from buffer_support import NOW, receipt

from kkt_adapter.buffer.db import connect
from kkt_adapter.buffer.events import GENESIS, row_hash, verify_chain
from kkt_adapter.buffer.store import Store
from kkt_adapter.receipts.model import TaxSystem


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """A buffer with six events (three receipts, two transitions, one audit), closed."""

    async def fill() -> None:
        store = await Store.open(tmp_path / "b.db", clock=lambda: NOW)
        for n in range(3):
            await store.insert_receipt(f"k{n}", receipt(n), "kkt1", TaxSystem.OSN)
        await store.begin_printing("k0", last_fd=7)
        await store.mark_unknown("k0", "port gone")
        await store.audit("admin login", "admin", {"from": "127.0.0.1"})
        await store.close()

    asyncio.run(fill())
    return tmp_path / "b.db"


def tamper(path: Path, sql: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    return conn


def test_an_untouched_chain_verifies(journal: Path) -> None:
    """Every row links to the one before and matches its own hash."""
    conn = sqlite3.connect(journal)
    verdict = verify_chain(conn)
    first_prev = conn.execute("SELECT prev_hash FROM events ORDER BY seq LIMIT 1").fetchone()[0]
    conn.close()
    assert (verdict.ok, verdict.checked, first_prev) == (True, 6, GENESIS)


def test_an_edited_row_is_named(journal: Path) -> None:
    """Changing the reason of row 4 breaks the chain at row 4 (its content no longer matches its hash)."""
    conn = tamper(journal, "UPDATE events SET reason = 'nothing happened' WHERE seq = 4")
    verdict = verify_chain(conn)
    conn.close()
    assert (verdict.ok, verdict.broken_seq) == (False, 4)
    assert verdict.problem is not None
    assert "edited" in verdict.problem


def test_an_edited_row_with_a_recomputed_hash_is_caught_at_the_next_row(journal: Path) -> None:
    """A forger who also recomputes row 3's hash breaks the link of row 4."""
    conn = sqlite3.connect(journal)
    cols = conn.execute(
        "SELECT prev_hash, at, kind, key, from_state, to_state, actor, reason, detail FROM events WHERE seq = 3"
    ).fetchone()
    forged = row_hash(cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], "mallory", cols[7], cols[8])
    conn.execute("UPDATE events SET actor = 'mallory', hash = ? WHERE seq = 3", (forged,))
    conn.commit()
    verdict = verify_chain(conn)
    conn.close()
    assert (verdict.broken_seq, verdict.checked) == (4, 4)
    assert verdict.problem is not None
    assert "link" in verdict.problem


def test_a_deleted_row_is_named_by_the_row_after_it(journal: Path) -> None:
    """Deleting row 2 breaks the link of row 3, the first row whose predecessor is missing."""
    conn = tamper(journal, "DELETE FROM events WHERE seq = 2")
    verdict = verify_chain(conn)
    conn.close()
    assert (verdict.ok, verdict.broken_seq) == (False, 3)


def test_deleting_the_first_row_is_caught(journal: Path) -> None:
    """Row 2 then claims a predecessor where the genesis value is expected."""
    conn = tamper(journal, "DELETE FROM events WHERE seq = 1")
    verdict = verify_chain(conn)
    conn.close()
    assert verdict.broken_seq == 2


def test_new_events_continue_the_chain_after_a_restart(journal: Path) -> None:
    """Reopening the buffer chains the next event to the last stored hash."""

    async def more() -> None:
        store = await Store.open(journal, clock=lambda: NOW)
        await store.insert_receipt("k9", receipt(9), "kkt1", TaxSystem.OSN)
        await store.close()

    asyncio.run(more())
    conn = sqlite3.connect(journal)
    verdict = verify_chain(conn)
    conn.close()
    assert (verdict.ok, verdict.checked) == (True, 7)


def test_chain_stays_linear_when_another_process_appends(tmp_path: Path) -> None:
    """An event appended by a second writer (a CLI command) is chained to, not forked from."""
    path = tmp_path / "chain.db"

    async def scenario() -> None:
        first = await Store.open(path)
        await first.audit("first", "test", {})
        second = await Store.open(path)
        await second.audit("from another writer", "cli", {})
        await second.close()
        await first.audit("after it", "test", {})
        await first.close()

    asyncio.run(scenario())
    conn = connect(path)
    try:
        verdict = verify_chain(conn)
    finally:
        conn.close()
    assert verdict.ok, verdict
    assert verdict.checked == 3
