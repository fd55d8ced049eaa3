"""kill -9 of the daemon at random points of the OFD relay, ≥ 20 times, with receipts sold between the kills:
the end state is the same as without a crash — the FN's queue empty, each FN document at the OFD simulator,
each ticket taken by the FN exactly once, each receipt fiscalized once — and the event chain verifies.

Three processes: the emulated KKT (``kkt-adapter emulator``, it survives the kills as a real KKT does), the OFD
simulator (``kkt-adapter ofd-sim``, answering after ``DELAY_S`` so that kills land mid-exchange too; the FN
answers FF30–FF33 after ``FN_DELAY_MS``, so kills land mid-FF33 too), and the
daemon, killed after a random 0.05–1.2 s of work each round. ``OFD_KILL9_ROUNDS`` sets the rounds (default 20).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_harness import Daemon, free_port, make_receipt, prepare_daemon, wait_until

from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.ofd.sim.control import RunningSim, spawned

ROUNDS = int(os.environ.get("OFD_KILL9_ROUNDS", "20"))
DELAY_S = 0.15
FN_DELAY_MS = 80
RNG = random.Random(int(os.environ.get("OFD_KILL9_SEED", "10")))


def emulator_state(control: str) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{control}/state", timeout=5).json()
    return state


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    control = f"http://127.0.0.1:{free_port()}"
    link = tmp_path / "kkt1"
    argv = ["emulator", "--link", str(link), "--state", str(tmp_path / "emu.json")]
    argv += ["--control-port", control.rsplit(":", 1)[1]]
    process = subprocess.Popen([sys.executable, "-m", "kkt_adapter", *argv], stdout=subprocess.DEVNULL)
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{control}/state", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 20, "the emulator's control API", poll_s=0.05)
        yield link, control
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def daemon_for(tmp_path: Path, link: Path, sim: RunningSim) -> Daemon:
    daemon = prepare_daemon(
        tmp_path / "daemon",
        {
            "buffer": {"min_free_bytes": 0},
            "ofd": {"mode": "relay", "host": "127.0.0.1", "port": sim.port, "connect_timeout_s": 1.0,
                    "read_timeout_s": 2.0},
            "sync": {"fail_max": 3, "reset_timeout_s": 0.5, "backoff_base_s": 0.05, "backoff_cap_s": 0.5,
                     "lease_s": 5.0},
            "ops": {"fn_watch_interval_s": 1.0, "timezone": "Europe/Moscow"},
        },
    )  # fmt: skip
    with daemon.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[[devices]]\nid = "kkt1"\nport = "{link}"\nanswer_timeout_s = 2.0\n')
    return daemon


def outbox_states(db: Path) -> set[str]:
    """The outbox states present right after a kill (what the kill interrupted)."""
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT DISTINCT state FROM outbox WHERE state != 'written'")}
    except sqlite3.OperationalError:  # killed before the schema was made
        return set()
    finally:
        conn.close()


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
