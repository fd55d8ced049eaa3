"""Checking the audit chain against its anchored head: the full walk and the cheap one at start-up.

:func:`verify_all` (``audit verify``, backups) walks every event and compares the table's end with the
head record (:mod:`kkt_adapter.buffer.anchor`). :func:`startup_check` walks only the events written since
the last point it verified (kept in ``<db>.chain-verified``), so a daemon start costs the events of one
run, not of the whole history; it falls back to the full walk to locate a break it cannot place.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from pathlib import Path
from typing import Any

from kkt_adapter.buffer.anchor import Anchor, AnchorFile, head_path, read_anchor, verified_path
from kkt_adapter.buffer.events import RESTART_REASON, ChainVerdict, verify_chain


def last_event(conn: sqlite3.Connection) -> Anchor | None:
    """The table's newest event as an anchor (None for an empty log)."""
    row = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else Anchor(int(row[0]), str(row[1]))


def check_tail(conn: sqlite3.Connection, anchor: Anchor | None) -> ChainVerdict | None:
    """A verdict naming the lost tail when the table no longer holds the anchored head; None when it does."""
    if anchor is None:
        return None
    row = conn.execute("SELECT hash FROM events WHERE seq = ?", (anchor.seq,)).fetchone()
    last = last_event(conn)
    end = 0 if last is None else last.seq
    if row is None:
        return ChainVerdict(
            0,
            anchor.seq,
            f"events cut from the end: the anchored head is event {anchor.seq}, the log ends at {end}",
            end,
        )
    if row[0] != anchor.hash:
        return ChainVerdict(0, anchor.seq, f"event {anchor.seq} differs from the anchored head (log rewritten?)", end)
    return None


def verify_all(conn: sqlite3.Connection, db_path: Path) -> ChainVerdict:
    """Every event re-hashed, then the table's end compared with the anchored head beside ``db_path``."""
    verdict = verify_chain(conn)
    if not verdict.ok:
        return verdict
    return check_tail(conn, read_anchor(head_path(db_path))) or verdict


def startup_check(conn: sqlite3.Connection, db_path: Path) -> ChainVerdict:
    """The incremental check at start: anchored head, then the events since the last verified point.

    Records the new verified point when everything holds. Never raises for a broken chain: the verdict
    says where it broke.
    """
    point = read_anchor(verified_path(db_path))
    verdict = verify_chain(conn, after=None if point is None else (point.seq, point.hash))
    if not verdict.ok and point is not None and verdict.checked == 0:
        verdict = verify_chain(conn)  # the verified point itself changed: find the first break from the start
    if not verdict.ok:
        return verdict
    tail = check_tail(conn, read_anchor(head_path(db_path)))
    if tail is not None:
        return tail
    head = last_event(conn)
    if head is not None and (point is None or head.seq > point.seq):
        try:
            record = AnchorFile(verified_path(db_path))
            try:
                record.reset(head)
            finally:
                record.close()
        except OSError:  # a full or read-only disk: the next start walks these events again
            pass
    return verdict


def restart_detail(
    conn: sqlite3.Connection, db_path: Path, at_seq: int, reason: str, admin_token: str, evidence: dict[str, Any]
) -> dict[str, Any]:
    """What a chain restart at ``at_seq`` records; raises ValueError unless ``at_seq`` is the first break.

    The detail names the row hash found at the break (the verifier accepts exactly that row there) and
    carries an HMAC-SHA256 over it keyed with the admin token: the admin signed this restart.
    """
    verdict = verify_all(conn, db_path)
    if verdict.ok:
        raise ValueError("the audit chain is intact: there is nothing to restart")
    if verdict.broken_seq != at_seq:
        raise ValueError(f"the first break is at event {verdict.broken_seq}, not {at_seq}: restart there first")
    row = conn.execute("SELECT hash FROM events WHERE seq = ?", (at_seq,)).fetchone()
    anchor = read_anchor(head_path(db_path))
    row_hash = str(row[0]) if row is not None else (anchor.hash if anchor else "")
    message = f"{RESTART_REASON}|{at_seq}|{row_hash}|{reason}".encode()
    signature = hmac.new(admin_token.encode(), message, hashlib.sha256).hexdigest()
    return {
        "at_seq": at_seq,
        "row_hash": row_hash,
        "problem": verdict.problem,
        "why": reason,
        "evidence": evidence,
        "signature": signature,
    }
