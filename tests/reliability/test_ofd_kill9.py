"""kill -9 of the daemon at random points of the OFD relay, ≥ 20 times, with receipts sold between the kills:
the end state is the same as without a crash — the FN's queue empty, each FN document at the OFD simulator,
each ticket taken by the FN exactly once, each receipt fiscalized once — and the event chain verifies.

Three processes: the emulated KKT (``kkt-adapter emulator``, it survives the kills as a real KKT does), the OFD
simulator (``kkt-adapter ofd-sim``, answering after ``DELAY_S`` so that kills land mid-exchange too; the FN
answers FF30–FF33 after ``FN_DELAY_MS``, so kills land mid-FF33 too), and the
daemon, killed after a random 0.05–1.2 s of work, or (every other round) the moment a message was committed
as read or an answer as stored. ``OFD_KILL9_ROUNDS`` sets the rounds (default 20).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
from pathlib import Path

import httpx
from daemon_harness import Daemon, make_receipt, wait_until
from ofd_system import daemon_for, emulator_state

from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.ofd.sim.control import spawned

ROUNDS = int(os.environ.get("OFD_KILL9_ROUNDS", "20"))
DELAY_S = 0.15
FN_DELAY_MS = 80
RNG = random.Random(int(os.environ.get("OFD_KILL9_SEED", "10")))


def outbox_states(db: Path) -> set[str]:
    """The outbox states present right after a kill (what the kill interrupted)."""
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT DISTINCT state FROM outbox WHERE state != 'written'")}
    except sqlite3.OperationalError:  # killed before the schema was made
        return set()
    finally:
        conn.close()


AIMED = {1: "read", 3: "answered"}  # rounds 1, 5, 9 … right after a read commit; 3, 7, 11 … after an answer


def wait_for_state(db: Path, state: str, timeout_s: float = 5.0) -> None:
    """Poll the buffer (read-only, WAL) until some outbox row is in ``state``, at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and state not in outbox_states(db):
        time.sleep(0.005)


def sell(daemon: Daemon, key: str) -> None:
    """Post one receipt; a kill may cut the answer, the idempotency key makes the retry after restart safe."""
    body = make_receipt()
    with contextlib.suppress(httpx.TransportError):  # cut by a kill: posted again with its key after the last restart
        httpx.post(f"{daemon.base_url}/v1/receipts", json=body, headers={"Idempotency-Key": key}, timeout=10)


def test_kill9_at_random_points_of_the_relay_keeps_one_end_state(tmp_path: Path, emulator: tuple[Path, str]) -> None:
    """≥ 20 SIGKILLs mid-relay; then the FN's queue drains, every FD reaches the OFD once or more, each
    ticket is taken once, receipts are fiscalized once each, and the chain verifies."""
    link, control = emulator
    keys: list[str] = []
    hit: set[str] = set()
    with spawned() as sim:
        sim.control.fault("none", delay_s=DELAY_S)
        # a slow FN (each FF30–FF33 answer late) widens the windows after the read and mid-FF33
        httpx.post(f"{control}/faults", json={"ofd_delay_ms": FN_DELAY_MS}, timeout=5).raise_for_status()
        daemon = daemon_for(tmp_path, link, sim)
        try:
            for round_no in range(ROUNDS):
                daemon.start()
                for i in range(2):
                    key = f"k{round_no}-{i}"
                    keys.append(key)
                    sell(daemon, key)
                aimed = AIMED.get(round_no % 4)
                if aimed is not None:  # every other round: the moment a row is in that state
                    wait_for_state(daemon.db_path, aimed)
                else:
                    time.sleep(RNG.uniform(0.05, 1.2))
                daemon.kill9()
                hit.update(outbox_states(daemon.db_path))
            daemon.start()
            for key in keys:  # a POST cut by a kill is repeated with its key: accepted at most once
                sell(daemon, key)
            wait_until(lambda: emulator_state(control)["unsent"]["count"] == 0, 120, "the FN's queue to drain", 0.2)
            state = emulator_state(control)
            archive = [doc["fd_number"] for doc in state["archive"]]
            receipts = [doc for doc in state["archive"] if doc["doc_type"] == 3]
            assert len(receipts) == len(keys), "each receipt fiscalized exactly once"
            assert state["ofd_relay"]["tickets_taken"] == len(archive), "each ticket taken by the FN once"
            assert state["ofd_relay"]["tickets_refused"] == 0
            at_ofd = {row["fd_number"] for row in sim.control.received()}
            assert set(archive) <= at_ofd
        finally:
            daemon.stop()
    conn = sqlite3.connect(daemon.db_path)
    try:
        assert verify_chain(conn).ok
        written = conn.execute("SELECT count(*) FROM outbox WHERE state = 'written'").fetchone()[0]
    finally:
        conn.close()
    assert written == len(archive)
    # the kills landed with messages committed but unanswered (after the read, mid-TCP) and with answers
    # committed but not yet written (after the answer, mid-FF33)
    assert {"read", "answered"} <= hit, hit
