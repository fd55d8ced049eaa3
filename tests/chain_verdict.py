"""The audit chain of a buffer file, checked from a test."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kkt_adapter.buffer.events import verify_chain


def chain_ok(path: Path) -> bool:
    """Whether the event hash chain of the buffer at ``path`` verifies."""
    conn = sqlite3.connect(path)
    try:
        return verify_chain(conn).ok
    finally:
        conn.close()
