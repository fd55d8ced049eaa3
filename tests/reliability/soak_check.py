"""The soak's end: wait for quiescence (bounded), then check each invariant and report it with its figure.

The buffer is read through a read-only SQLite connection (safe beside the running daemon), the FN
archive through the emulator's ``GET /state``, the OFD's holdings through the simulator's control API.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from reliability_support import chain, impossible_rows, integrity, read_only
from soak_system import System

TERMINAL = frozenset({"delivered", "rejected", "dead"})
RECEIPT_DOC_TYPE = 3


@dataclass(frozen=True)
class Invariant:
    """One checked property: its name, the figure that shows it, and what violates it (empty when it holds)."""

    name: str
    figure: str
    violations: list[str]

    @property
    def ok(self) -> bool:
        return not self.violations


def rows(system: System) -> list[sqlite3.Row]:
    with read_only(system.db_path) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute("SELECT * FROM receipts ORDER BY seq"))


def state_counts(system: System) -> Counter[str]:
    with read_only(system.db_path) as conn:
        return Counter(dict(conn.execute("SELECT state, count(*) FROM receipts GROUP BY state").fetchall()))


def wait_quiescent(system: System, timeout_s: float, ack_every_s: float = 5.0) -> tuple[bool, float]:
    """Wait until every receipt is terminal (acking the FN's OFD queue meanwhile); (reached, seconds taken)."""
    started = time.monotonic()
    next_ack = started
    while time.monotonic() - started < timeout_s:
        if time.monotonic() >= next_ack:
            ack_fn(system)
            next_ack = time.monotonic() + ack_every_s
        counts = state_counts(system)
        if all(state in TERMINAL for state in counts):
            return True, time.monotonic() - started
        time.sleep(0.5)
    return False, time.monotonic() - started


def ack_fn(system: System) -> None:
    """Record OFD tickets in the emulated FN for every document (as the real KKT's OFD exchange would)."""
    with contextlib.suppress(httpx.HTTPError):  # best effort: the emulator may be restarting this second
        system.control("POST", f"{system.emulator}/ofd/ack", {})


def lifecycle_figures(system: System) -> dict[str, int]:
    """How often the recovery paths ran: outcomes unknown and how the FN decided them, paper copies resumed."""
    with read_only(system.db_path) as conn:
        moves = {
            (f, t): n
            for f, t, n in conn.execute(
                "SELECT from_state, to_state, count(*) FROM events WHERE kind = 'transition' GROUP BY 1, 2"
            )
        }
        resumed = conn.execute("SELECT count(*) FROM events WHERE reason = 'paper copy finished'").fetchone()[0]
    return {
        "outcomes unknown (printing → unknown)": moves.get(("printing", "unknown"), 0),
        "  decided fiscalized from the FN": moves.get(("unknown", "fiscalized"), 0),
        "  decided not fiscalized, reprinted": moves.get(("unknown", "accepted"), 0),
        "printing → accepted (not sent)": moves.get(("printing", "accepted"), 0),
        "paper copies finished after paper out": int(resumed),
    }


def check_all(system: System, accepted: dict[str, int]) -> list[Invariant]:
    """Every invariant of the soak, in the order they are printed."""
    stored = rows(system)
    fn_state = system.emulator_state()
    documents = system.control("GET", f"{system.ofd_control}/documents", None)
    return [
        _accepted_present(stored, accepted),
        _none_stuck(stored),
        _fn_matches_buffer(stored, fn_state),
        _ofd_once(stored, documents),
        _chain(system),
        _integrity(system),
        _sound_rows(system),
        _reconcile(system),
    ]


def _accepted_present(stored: list[sqlite3.Row], accepted: dict[str, int]) -> Invariant:
    by_key = {row["key"]: row["total_kop"] for row in stored}
    missing = [f"{key}: answered 2xx, not in the buffer" for key in accepted if key not in by_key]
    wrong = [f"{key}: total {by_key[key]} ≠ posted {t}" for key, t in accepted.items() if by_key.get(key, t) != t]
    return Invariant("every 2xx receipt is in the buffer", f"{len(accepted)} acknowledged", missing + wrong)


def _none_stuck(stored: list[sqlite3.Row]) -> Invariant:
    counts = Counter(row["state"] for row in stored)
    stuck = [f"{row['key']}: still {row['state']}" for row in stored if row["state"] not in TERMINAL]
    figure = ", ".join(f"{state} {n}" for state, n in sorted(counts.items()))
    return Invariant("every receipt delivered, rejected or dead (none stuck)", figure or "no receipts", stuck[:50])


def _fn_matches_buffer(stored: list[sqlite3.Row], fn_state: dict[str, Any]) -> Invariant:
    serial = fn_state["fn"]["serial"]
    fn_docs = {d["fd_number"]: d["sum_kop"] for d in fn_state["archive"] if d["doc_type"] == RECEIPT_DOC_TYPE}
    fiscal = {row["fd_number"]: row for row in stored if row["fd_number"] is not None}
    problems = [
        f"FN receipt FD {fd} ({s} kop) has no fiscalized receipt" for fd, s in fn_docs.items() if fd not in fiscal
    ]
    for fd, row in fiscal.items():
        if fd not in fn_docs:
            problems.append(f"{row['key']}: FD {fd} is not a receipt in the FN")
        elif fn_docs[fd] != row["total_kop"]:
            problems.append(f"{row['key']}: FD {fd} sum {fn_docs[fd]} ≠ total {row['total_kop']}")
        if row["fn_serial"] != serial:
            problems.append(f"{row['key']}: FN serial {row['fn_serial']} ≠ device {serial}")
    figure = f"{len(fn_docs)} FN receipt documents, {len(fiscal)} fiscalized receipts"
    return Invariant("FN receipt documents ↔ fiscalized receipts one-to-one", figure, problems)


def _ofd_once(stored: list[sqlite3.Row], documents: dict[str, Any]) -> Invariant:
    ids = Counter(doc["id"] for doc in documents["documents"])
    problems = [f"OFD holds document {doc_id} {n} times" for doc_id, n in ids.items() if n > 1]
    delivered = {f"{r['fn_serial']}-{r['fd_number']}" for r in stored if r["state"] == "delivered"}
    problems += [f"delivered {doc_id} is not at the OFD" for doc_id in sorted(delivered - set(ids))]
    fiscal = {f"{r['fn_serial']}-{r['fd_number']}" for r in stored if r["fd_number"] is not None}
    problems += [f"the OFD holds {doc_id}, unknown to the buffer" for doc_id in sorted(set(ids) - fiscal)]
    figure = f"{len(ids)} documents, {documents['submissions']} submissions, {documents['repeated']} repeated"
    return Invariant("the OFD holds each document id once", figure, problems)


def _chain(system: System) -> Invariant:
    verdict = chain(system.db_path)
    problems = [] if verdict.ok else [f"event {verdict.broken_seq}: {verdict.problem}"]
    return Invariant("the audit/event chain verifies", f"{verdict.checked} events", problems)


def _integrity(system: System) -> Invariant:
    verdict = integrity(system.db_path)
    return Invariant("SQLite integrity_check", verdict, [] if verdict == "ok" else [verdict])


def _sound_rows(system: System) -> Invariant:
    problems = impossible_rows(system.db_path)
    return Invariant("no receipt in an impossible state", f"{len(problems)} contradictions", problems[:50])


def _reconcile(system: System) -> Invariant:
    """``kkt-adapter reconcile`` of every soak shift: buffer vs FN (through the daemon) vs the export endpoint."""
    command = [
        sys.executable,
        "-m",
        "kkt_adapter",
        "reconcile",
        "--config",
        str(system.root / "soak.toml"),
        "--since",
        "2000-01-01",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    problems = [] if done.returncode == 0 else [f"exit {done.returncode}", *lines[-20:]]
    return Invariant("kkt-adapter reconcile is clean", f"exit {done.returncode}", problems)
