"""The simulator's own SQLite file: one row per document id, with how often it was submitted.

Plain ``sqlite3``; used from the simulator's event-loop thread only. WAL with ``synchronous=NORMAL``:
this is a test tool whose throughput matters more than power-loss durability.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    ticket TEXT NOT NULL,
    received_at TEXT NOT NULL,
    submit_count INTEGER NOT NULL
)
"""


class StoreResult(Enum):
    """What storing a submission did."""

    CREATED = "created"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Received:
    """One stored document as the listing shows it."""

    id: str
    ticket: str
    received_at: str
    submit_count: int


def ticket_for(doc_id: str) -> str:
    """A deterministic ticket id for ``doc_id`` (the same id always gets the same ticket)."""
    return "T" + hashlib.sha256(doc_id.encode()).hexdigest()[:20].upper()


class SimDb:
    """Documents received by the simulator."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def store(self, doc_id: str, body: str, now: datetime) -> tuple[StoreResult, Received]:
        """Atomically store ``body`` once under ``doc_id`` and count the submission.

        Same id, same body → DUPLICATE (count + 1, stored ticket); same id, other body → CONFLICT
        (nothing changes).
        """
        ticket, stamp = ticket_for(doc_id), now.isoformat()
        # The common case is one statement, one (WAL, synchronous=NORMAL) commit and no read-back.
        created = self._conn.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, 1) ON CONFLICT(id) DO NOTHING", (doc_id, body, ticket, stamp)
        ).rowcount
        if created == 1:
            return StoreResult.CREATED, Received(doc_id, ticket, stamp, 1)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute("SELECT body FROM documents WHERE id = ?", (doc_id,)).fetchone()
            if row is not None and row[0] == body:
                self._conn.execute("UPDATE documents SET submit_count = submit_count + 1 WHERE id = ?", (doc_id,))
                result = StoreResult.DUPLICATE
            else:
                result = StoreResult.CONFLICT
        received = self.get(doc_id)
        assert received is not None  # noqa: S101 -- the INSERT found it present (rows are only deleted by reset)
        return result, received

    def clear(self) -> None:
        """Forget every document (the control API's reset)."""
        self._conn.execute("DELETE FROM documents")

    def get(self, doc_id: str) -> Received | None:
        """The stored document ``doc_id``, or None."""
        row = self._conn.execute(
            "SELECT id, ticket, received_at, submit_count FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()
        return Received(*row) if row else None

    def listing(self, limit: int, offset: int) -> list[Received]:
        """Stored documents in id order."""
        rows = self._conn.execute(
            "SELECT id, ticket, received_at, submit_count FROM documents ORDER BY id LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [Received(*row) for row in rows]

    def totals(self) -> tuple[int, int, int]:
        """(documents, submissions, documents submitted more than once)."""
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(submit_count), 0), COALESCE(SUM(submit_count > 1), 0) FROM documents"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])
