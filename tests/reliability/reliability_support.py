"""Helpers shared by the reliability tests: the error-shape check and read-only views of a buffer file.

Everything here reads the database through a separate read-only connection, exactly as an operator's
``sqlite3`` would, so a check never changes what it checks.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from kkt_adapter.buffer.events import ChainVerdict, verify_chain
from kkt_adapter.buffer.states import ReceiptState

ERROR_KEYS = {"error", "message", "details"}


def assert_error_shape(response: httpx.Response) -> dict[str, Any]:
    """The documented error body: ``error`` and ``message`` non-empty strings, ``details`` of field/reason."""
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == ERROR_KEYS, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    assert isinstance(body["details"], list), body
    assert all(isinstance(d, dict) and set(d) == {"field", "reason"} for d in body["details"]), body
    return body


@contextlib.contextmanager
def read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the buffer file (closed at the end of the block)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def row_counts(db_path: Path) -> tuple[int, int]:
    """(receipts, events) rows in the buffer file."""
    with read_only(db_path) as conn:
        receipts = conn.execute("SELECT count(*) FROM receipts").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    return int(receipts), int(events)


def integrity(db_path: Path) -> str:
    """``PRAGMA integrity_check`` of the buffer file (``"ok"`` when sound)."""
    with read_only(db_path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def chain(db_path: Path) -> ChainVerdict:
    """The audit/event hash chain verdict of the buffer file."""
    with read_only(db_path) as conn:
        return verify_chain(conn)


def impossible_rows(db_path: Path) -> list[str]:
    """Receipts whose columns contradict their state (each named with the contradiction); empty when sound."""
    states = {s.value for s in ReceiptState}
    problems: list[str] = []
    with read_only(db_path) as conn:
        conn.row_factory = sqlite3.Row
        for row in conn.execute("SELECT * FROM receipts"):
            problems += _row_problems(row, states)
    return problems


def _row_problems(row: sqlite3.Row, states: set[str]) -> list[str]:
    key, state = row["key"], row["state"]
    fiscal_states = {"fiscalized", "delivered", "dead"}
    problems: list[str] = []
    if state not in states:
        problems.append(f"{key}: unknown state {state!r}")
    if state in fiscal_states and (row["fd_number"] is None or row["fiscal_sign"] is None):
        problems.append(f"{key}: {state} without FD number or fiscal sign")
    if state in {"accepted", "rejected"} and row["fd_number"] is not None:
        problems.append(f"{key}: {state} but carries FD {row['fd_number']}")
    if state == "rejected" and not row["reject_reason"]:
        problems.append(f"{key}: rejected without a reason")
    if state == "dead" and not row["dead_reason"]:
        problems.append(f"{key}: dead without a reason")
    if state == "delivered" and not row["ofd_ticket"]:
        problems.append(f"{key}: delivered without an OFD ticket")
    return problems
