"""``kkt-adapter audit verify|restart``: check the buffer's event chain, or restart it at a break.

``verify`` opens the database read-only (safe while the daemon runs), recomputes every event's hash in
order, names the first broken link, and compares the log's end with the head anchored beside the
database (rows cut from the end). Exit 0 when the chain is intact, 1 when it is broken, 2 on a bad
configuration or an unreadable database.

``restart --at SEQ --reason TEXT`` (daemon stopped: it takes the data directory's lock and refuses while
the daemon holds it; admin token required) acknowledges the first break found by ``verify``: it first
saves the broken database as evidence (a backup under ``<backup_dir>/evidence``), then appends an audit
event, actor ``admin``, naming the break and signed with an HMAC of the admin token, and moves the
anchored head to it. Verification then accepts exactly that row at that place and goes on checking
everything else. Exit 0 done, 1 refused, 2 bad setup.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

from kkt_adapter.buffer.backup import create_backup
from kkt_adapter.buffer.chain_check import restart_detail, verify_all
from kkt_adapter.buffer.db import connect
from kkt_adapter.buffer.errors import StoreError
from kkt_adapter.buffer.events import RESTART_REASON, ChainVerdict, EventDraft
from kkt_adapter.buffer.writer import Tx, Writer
from kkt_adapter.config import ConfigError, load_settings
from kkt_adapter.config.secrets import ADMIN_TOKEN_ENV, load_secret
from kkt_adapter.daemon.lock import AlreadyRunning, hold_pid_lock, pid_path, release_pid_lock


def render(db: Path, verdict: ChainVerdict) -> str:
    """The verdict as one line for a terminal."""
    if verdict.ok:
        restarted = f" (restarted by an admin at {', '.join(map(str, verdict.restarted))})" if verdict.restarted else ""
        return f"audit chain OK: {verdict.checked} events in {db}{restarted}"
    return (
        f"audit chain BROKEN at event {verdict.broken_seq}: {verdict.problem} ({db})\n"
        f"  keep the files as they are; see docs/operations.md, 'Audit chain broken'"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kkt-adapter audit", description="Verify or restart the audit chain.")
    parser.add_argument("action", choices=["verify", "restart"], help="verify the chain, or restart it at a break")
    parser.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")
    parser.add_argument("--db", type=Path, help="buffer database (default: [buffer] path of the config)")
    parser.add_argument("--at", type=int, metavar="SEQ", help="restart: the broken event named by verify")
    parser.add_argument("--reason", help="restart: why (who found it, the ticket number)")
    parser.add_argument("--token-file", type=Path, help=f"restart: admin token file (or ${ADMIN_TOKEN_ENV})")
    return parser


def verify(db: Path) -> ChainVerdict:
    """The full verdict of ``db`` (read-only); raises sqlite3.Error or StoreError when unreadable."""
    conn = connect(db, readonly=True)
    try:
        return verify_all(conn, db)
    finally:
        conn.close()


def restart(db: Path, backup_dir: Path, at_seq: int, reason: str, admin_token: str) -> Path:
    """Save the evidence, then append the signed restart event; returns the evidence backup's path.

    Raises ValueError when ``at_seq`` is not the first break (or the chain is intact).
    """
    first = verify(db)
    if first.ok or first.broken_seq != at_seq:
        raise ValueError(
            "the audit chain is intact: there is nothing to restart"
            if first.ok
            else f"the first break is at event {first.broken_seq}, not {at_seq}"
        )
    lock = hold_pid_lock(pid_path(db))  # AlreadyRunning while the daemon runs: stop it first
    try:
        evidence = create_backup(db, backup_dir / "evidence")
        _append_restart(db, at_seq, reason, admin_token, evidence.path, str(evidence.manifest["sha256"]))
    finally:
        release_pid_lock(lock)
    return evidence.path


def _append_restart(db: Path, at_seq: int, reason: str, admin_token: str, evidence: Path, sha256: str) -> None:
    writer = Writer(db)
    try:

        def op(tx: Tx) -> None:
            detail = restart_detail(
                tx.conn,
                db,
                at_seq,
                reason,
                admin_token,
                {"backup": str(evidence), "sha256": sha256},
            )
            tx.event(EventDraft(datetime.now(UTC).isoformat(), "audit", RESTART_REASON, "admin", detail=detail))
            tx.reanchor = True

        writer.submit(op).result(timeout=60)
    finally:
        writer.close()


def main(argv: list[str]) -> int:
    """Verify (or restart) the event chain of the buffer named by ``--db`` or the config."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        db: Path = args.db or settings.buffer.path
        token = load_secret(ADMIN_TOKEN_ENV, args.token_file or settings.api.admin_token_file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not db.is_file():
        print(f"audit: no buffer database at {db}", file=sys.stderr)
        return 2
    try:
        if args.action == "verify":
            verdict = verify(db)
            print(render(db, verdict))
            return 0 if verdict.ok else 1
        if args.at is None or not args.reason:
            print("audit restart: name the break with --at SEQ and say why with --reason TEXT", file=sys.stderr)
            return 2
        if token is None:
            print(f"audit restart: an admin token is required (${ADMIN_TOKEN_ENV} or --token-file)", file=sys.stderr)
            return 2
        evidence = restart(db, settings.ops.backup_dir, args.at, args.reason, token.get_secret_value())
    except (ValueError, AlreadyRunning) as exc:
        print(f"audit restart refused: {exc}", file=sys.stderr)
        return 1
    except (sqlite3.Error, StoreError, OSError) as exc:
        print(f"audit: cannot use {db}: {exc}", file=sys.stderr)
        return 2
    print(f"audit chain restarted at event {args.at}; the broken database was saved as {evidence}")
    print(render(db, verify(db)))
    return 0
