"""The power-cut run: cuts at every fsync boundary of one receipt's life, then at random points under load.

After every cut the disk is mounted again, the daemon restarted on what it kept, and these must hold:
every receipt answered 2xx is in the buffer with the body hash of what was posted; ``integrity_check``
is ok; the event chain verifies, and so does its end against the anchored head; every backup that
verifies holds every receipt acknowledged before it was started. At the end (faults over, the system
left to settle): FN receipt documents ↔ fiscalized receipts one-to-one (so none printed twice), the OFD
holds each document once, no receipt in an impossible state, none stuck.
Used by ``tests/powercut/test_powercut.py`` (short) and ``scripts/soak --power-cut`` (long).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from powercut_system import PowerCutSystem
from soak_check import TERMINAL, Invariant, _fn_matches_buffer, _none_stuck, _ofd_once, rows, wait_quiescent
from soak_load import valid_receipt

from kkt_adapter.buffer.backup import verify_backup
from kkt_adapter.buffer.chain_check import verify_all
from kkt_adapter.buffer.ops import body_hash
from kkt_adapter.receipts.model import ReceiptIn

POST_TIMEOUT_S = 5.0
QUIET_S = 0.5
SETTLE_S = 30.0
WALK_MAX = 40


@dataclass
class Ledger:
    """What the POS was told: acknowledged keys with their body hash; keys still to retry; backups started."""

    acked: dict[str, str] = field(default_factory=dict)
    retry: dict[str, dict[str, Any]] = field(default_factory=dict)
    backups: list[tuple[datetime, frozenset[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Figures:
    """What a run did and found."""

    walk_boundaries: int = 0
    random_cuts: int = 0
    torn_cuts: int = 0
    dropped_pages: int = 0
    undone_changes: int = 0
    backups_started: int = 0
    verified_names: set[str] = field(default_factory=set)
    refused_names: set[str] = field(default_factory=set)
    restart_s: list[float] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    final: list[Invariant] = field(default_factory=list)

    def lines(self, acked: int) -> list[str]:
        """The figures as the lines printed at the end of a run."""
        worst = max(self.restart_s, default=0.0)
        lines = [
            f"cuts at fsync boundaries of one receipt's life  {self.walk_boundaries}",
            f"cuts at random points under load               {self.random_cuts} ({self.torn_cuts} with a torn page)",
            f"unsynced pages dropped / namespace changes undone  {self.dropped_pages} / {self.undone_changes}",
            f"receipts acknowledged 2xx                      {acked}",
            f"backups started / verified / refused           {self.backups_started} / {len(self.verified_names)}"
            f" / {len(self.refused_names)}",
            f"daemon restart after a cut (worst)             {worst:.2f} s",
            f"violations after cuts                          {len(self.violations)}",
        ]
        lines += [f"  {v}" for v in self.violations[:30]]
        for inv in self.final:
            lines.append(f"{'OK  ' if inv.ok else 'FAIL'} {inv.name}: {inv.figure}")
            lines += [f"       {v}" for v in inv.violations[:20]]
        return lines

    @property
    def ok(self) -> bool:
        return not self.violations and all(inv.ok for inv in self.final)


def post(client: httpx.Client, system: PowerCutSystem, key: str, body: dict[str, Any], ledger: Ledger) -> bool:
    """One POST; a 2xx is recorded in the ledger with the body's hash, anything else leaves the key to retry."""
    try:
        response = client.post(f"{system.api}/v1/receipts", json=body, headers={"Idempotency-Key": key})
    except httpx.TransportError:
        with ledger.lock:
            ledger.retry[key] = body
        return False
    with ledger.lock:
        if 200 <= response.status_code < 300:
            ledger.acked[key] = body_hash(ReceiptIn.model_validate(body))
            ledger.retry.pop(key, None)
            return True
        ledger.retry[key] = body
    return False


def poster(system: PowerCutSystem, ledger: Ledger, stop: threading.Event, rng: random.Random, name: str) -> None:
    """A POS terminal: retries what was not acknowledged (same key), else posts new receipts, until ``stop``."""
    number = 0
    with httpx.Client(timeout=POST_TIMEOUT_S) as client:
        while not stop.is_set():
            with ledger.lock:
                mine = [k for k in ledger.retry if k.startswith(name)]
            if mine:
                key, body = mine[0], ledger.retry[mine[0]]
            else:
                number += 1
                key, body = f"{name}-{number}", valid_receipt(rng)
            # A cashier's pace, not a flood: the backlog must be printable before the settle bound.
            stop.wait(0.05 if not post(client, system, key, body, ledger) else rng.uniform(0.1, 0.4))


def check_after_cut(system: PowerCutSystem, ledger: Ledger, figures: Figures, label: str) -> None:
    """The invariants that must hold right after a restart on what the disk kept."""
    with ledger.lock:
        acked = dict(ledger.acked)
        backups = list(ledger.backups)
    conn = sqlite3.connect(f"file:{system.db_path}?mode=ro", uri=True, timeout=10)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            figures.violations.append(f"{label}: integrity_check {verdict}")
        chain = verify_all(conn, system.db_path)
        if not chain.ok:
            figures.violations.append(f"{label}: chain broken at event {chain.broken_seq}: {chain.problem}")
        stored = dict(conn.execute("SELECT key, body_hash FROM receipts").fetchall())
    finally:
        conn.close()
    for key, digest in acked.items():
        if stored.get(key) != digest:
            what = "missing" if key not in stored else "stored with another body hash"
            figures.violations.append(f"{label}: {key} answered 2xx but {what}")
    _check_backups(system, backups, figures, label)


def _check_backups(
    system: PowerCutSystem, backups: list[tuple[datetime, frozenset[str]]], figures: Figures, label: str
) -> None:
    """A backup that verifies must hold every receipt acknowledged before it was started."""
    for path in sorted(system.backup_dir.glob("kkt-adapter-*.db")) if system.backup_dir.is_dir() else []:
        report = verify_backup(path)
        if not report.ok:
            figures.refused_names.add(path.name)  # cut before its manifest was durable: refused, as it must be
            continue
        figures.verified_names.add(path.name)
        stamp = datetime.strptime(path.stem.removeprefix("kkt-adapter-"), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        before = [keys for started, keys in backups if started <= stamp]
        if not before:
            continue
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            held = {row[0] for row in conn.execute("SELECT key FROM receipts")}
        finally:
            conn.close()
        missing = sorted(before[-1] - held)
        if missing:
            figures.violations.append(f"{label}: backup {path.name} verifies but lacks {missing[:5]}")
        path.unlink()  # checked once: the next cut's checks look at new backups only
        path.with_name(path.name + ".manifest.json").unlink(missing_ok=True)


def _quiet(system: PowerCutSystem, timeout_s: float) -> bool:
    """Every receipt terminal and no fsync for ``QUIET_S``; False when ``timeout_s`` passed first."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        fsyncs = system.control_fs(cmd="stats")["fsyncs"]
        if fsyncs != last:
            last, since = fsyncs, time.monotonic()
        elif time.monotonic() - since >= QUIET_S and all(r["state"] in TERMINAL for r in rows(system)):
            return True
        time.sleep(0.05)
    return False


def _retry_all(system: PowerCutSystem, ledger: Ledger, timeout_s: float) -> None:
    """The POS retries every unacknowledged key until each is answered 2xx (bounded)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=POST_TIMEOUT_S) as client:
        while time.monotonic() < deadline:
            with ledger.lock:
                pending = dict(ledger.retry)
            if not pending:
                return
            for key, body in pending.items():
                post(client, system, key, body, ledger)


def restart_after_cut(system: PowerCutSystem, figures: Figures, cut: dict[str, Any]) -> None:
    figures.dropped_pages += int(cut["dropped_pages"])
    figures.undone_changes += int(cut["undone_changes"])
    figures.torn_cuts += 1 if cut["torn_bytes"] else 0
    figures.restart_s.append(system.power_on())


def walk_one_receipt(system: PowerCutSystem, ledger: Ledger, figures: Figures) -> None:
    """Cut after the 1st, 2nd, … fsync of one receipt's life (each time a new receipt) until a life ends uncut."""
    rng = random.Random(7)
    for k in range(1, WALK_MAX + 1):
        if not _quiet(system, SETTLE_S):
            figures.violations.append(f"walk {k}: the system did not settle within {SETTLE_S} s before the cut")
        system.control_fs(cmd="arm", fsyncs=k)
        key, body = f"walk-{k}", valid_receipt(rng)
        sent = threading.Thread(target=_post_once, args=(system, key, body, ledger), daemon=True)
        sent.start()
        frozen = _wait_frozen_or_quiet(system)
        if not frozen:
            system.control_fs(cmd="arm", fsyncs=10**9)
            sent.join(POST_TIMEOUT_S)
            return
        cut = system.cut(tear=False, seed=k)
        sent.join(POST_TIMEOUT_S)
        restart_after_cut(system, figures, cut)
        figures.walk_boundaries += 1
        _retry_all(system, ledger, SETTLE_S)
        check_after_cut(system, ledger, figures, f"walk cut after fsync {k}")
    figures.violations.append(f"the walk did not reach the end of a receipt's life in {WALK_MAX} fsyncs")


def _post_once(system: PowerCutSystem, key: str, body: dict[str, Any], ledger: Ledger) -> None:
    with httpx.Client(timeout=POST_TIMEOUT_S) as client:
        post(client, system, key, body, ledger)


def _wait_frozen_or_quiet(system: PowerCutSystem) -> bool:
    """True once the file system froze at the armed fsync; False when the receipt's life ended before it."""
    deadline = time.monotonic() + SETTLE_S
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        stats = system.control_fs(cmd="stats")
        if stats["frozen"]:
            return True
        if stats["fsyncs"] != last:
            last, since = stats["fsyncs"], time.monotonic()
        elif time.monotonic() - since >= 2 * QUIET_S and all(r["state"] in TERMINAL for r in rows(system)):
            return False
        time.sleep(0.02)
    return system.control_fs(cmd="stats")["frozen"]


def random_cuts(system: PowerCutSystem, ledger: Ledger, figures: Figures, count: int, seed: int) -> None:
    """``count`` cuts at random moments while POS terminals post and backups run."""
    rng = random.Random(seed)
    for n in range(count):
        stop = threading.Event()
        terminals = [
            threading.Thread(target=poster, args=(system, ledger, stop, random.Random(seed * 1000 + n * 7 + i), name))
            for i, name in enumerate(f"c{n}p{i}" for i in range(3))
        ]
        for terminal in terminals:
            terminal.start()
        load_s = rng.uniform(0.2, 2.0)
        if rng.random() < 0.35:
            time.sleep(rng.uniform(0.0, load_s))
            with ledger.lock:
                ledger.backups.append((datetime.now(UTC), frozenset(ledger.acked)))
            system.start_backup()
            figures.backups_started += 1
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            time.sleep(load_s)
        cut = system.cut(tear=rng.random() < 0.5, seed=rng.randrange(1 << 30))
        stop.set()
        for terminal in terminals:
            terminal.join(POST_TIMEOUT_S + 5)
        restart_after_cut(system, figures, cut)
        figures.random_cuts += 1
        check_after_cut(system, ledger, figures, f"random cut {n + 1}")
    _retry_all(system, ledger, SETTLE_S)


def final_checks(system: PowerCutSystem, ledger: Ledger, figures: Figures, settle_s: float) -> None:
    """Let everything settle, then the invariants that need the whole story."""
    reached, _ = wait_quiescent(system, settle_s)
    stored = rows(system)
    figures.final = [
        _none_stuck(stored) if reached else Invariant("the system settled", "timed out", ["not quiescent"]),
        _fn_matches_buffer(stored, system.emulator_state()),
        _ofd_once(stored, system.control("GET", f"{system.ofd_control}/documents", None)),
    ]
    check_after_cut(system, ledger, figures, "final")


def run(root: Path, cuts: int, seed: int = 1, walk: bool = True, settle_s: float = 90.0) -> tuple[Figures, int]:
    """The whole power-cut run in ``root``; returns its figures and the number of acknowledged receipts."""
    system = PowerCutSystem(root)
    ledger, figures = Ledger(), Figures()
    try:
        system.prepare()
        system.start_emulator()
        system.start_ofd()
        system.mount()
        system.start_daemon()
        if walk:
            walk_one_receipt(system, ledger, figures)
        random_cuts(system, ledger, figures, cuts, seed)
        final_checks(system, ledger, figures, settle_s)
    finally:
        system.shutdown()
    return figures, len(ledger.acked)
