"""``kkt-adapter audit verify [--config F] [--db PATH]``: check the hash chain of the buffer's event log.

Opens the database read-only (safe while the daemon runs), recomputes every event's hash in order and
names the first broken link. Exit 0 when the chain is intact, 1 when it is broken, 2 on a bad
configuration or an unreadable database.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from kkt_adapter.buffer.db import connect
from kkt_adapter.buffer.errors import StoreError
from kkt_adapter.buffer.events import ChainVerdict, verify_chain
from kkt_adapter.config import ConfigError, load_settings


def render(db: Path, verdict: ChainVerdict) -> str:
    """The verdict as one line for a terminal."""
    if verdict.ok:
        return f"audit chain OK: {verdict.checked} events in {db}"
    return f"audit chain BROKEN at event {verdict.broken_seq}: {verdict.problem} ({db})"


def main(argv: list[str]) -> int:
    """Verify the event chain of the buffer named by ``--db`` or the config."""
    parser = argparse.ArgumentParser(prog="kkt-adapter audit", description="Verify the audit (event) chain.")
    parser.add_argument("action", choices=["verify"], help="what to do (only: verify)")
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")
    parser.add_argument("--db", type=Path, help="buffer database (default: [buffer] path of the config)")
    args = parser.parse_args(argv)
    try:
        db: Path = args.db or load_settings(args.config).buffer.path
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not db.is_file():
        print(f"audit: no buffer database at {db}", file=sys.stderr)
        return 2
    try:
        conn = connect(db, readonly=True)
        try:
            verdict = verify_chain(conn)
        finally:
            conn.close()
    except (sqlite3.Error, StoreError) as exc:
        print(f"audit: cannot read {db}: {exc}", file=sys.stderr)
        return 2
    print(render(db, verdict))
    return 0 if verdict.ok else 1
