"""Crash durability of the running daemon: SIGKILL at random moments under concurrent intake, 20 rounds.

Every receipt that got a 2xx must be in the file afterwards with the body it was sent with; the file
passes ``integrity_check``; no key is stored twice; the event chain verifies; a replay of an acknowledged
key after the crashes answers 200, not 202. (kill -9 leaves the page cache intact: this proves process-crash
durability, not power-loss durability; see reference/libs-and-style.md §A5.)
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import signal
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_harness import Daemon, RawHttpClient, make_receipt, prepare_daemon

from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.buffer.ops import body_hash
from kkt_adapter.receipts.model import ReceiptIn

ROUNDS = 20
CLIENTS = 8


def body_for(key: str) -> dict[str, Any]:
    """A distinct valid receipt per key (the key is in the item name, so every body hash differs)."""
    items = [{"name": f"Товар {key}", "price_kop": 1_234, "quantity": "3", "amount_kop": 3_702, "vat": "vat10"}]
    return make_receipt(items=items, total_kop=3_702, payments=[{"type": "cash", "amount_kop": 5_000}])


async def load_until_killed(daemon: Daemon, round_no: int, kill_after_s: float, acked: dict[str, str]) -> int:
    """Post new receipts from CLIENTS tasks until the daemon is SIGKILLed ``kill_after_s`` from now."""
    assert daemon.process is not None
    process = daemon.process
    asyncio.get_running_loop().call_later(kill_after_s, process.send_signal, signal.SIGKILL)
    attempted = 0

    async def client(task: int) -> None:
        nonlocal attempted
        try:
            async with RawHttpClient(daemon.port) as http:
                for n in range(100_000):  # bounded; the kill ends it long before
                    key = f"r{round_no}-c{task}-{n}"
                    body = body_for(key)
                    attempted += 1
                    status, answer = await http.post_json("/v1/receipts", body, {"Idempotency-Key": key})
                    assert status == 202, answer
                    acked[key] = body_hash(ReceiptIn.model_validate(body))
        except (OSError, asyncio.IncompleteReadError):
            return  # the daemon died under this request: its outcome is unknown, it was not acknowledged

    await asyncio.gather(*(client(t) for t in range(CLIENTS)))
    return attempted


def check_file(db_path: Path, acked: dict[str, str]) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT key, body_hash, body FROM receipts").fetchall()
        stored = {key: digest for key, digest, _ in rows}
        assert len(stored) == len(rows)  # no key twice
        missing = sorted(set(acked) - set(stored))
        assert missing == [], f"{len(missing)} acknowledged receipts lost, e.g. {missing[:5]}"
        assert all(stored[key] == digest for key, digest in acked.items())
        for key, digest, body in rows:  # the stored body is the one that was hashed
            canonical = ReceiptIn.model_validate_json(body).model_dump_json(exclude={"id"})
            assert hashlib.sha256(canonical.encode()).hexdigest() == digest, key
        verdict = verify_chain(conn)
        assert verdict.ok, verdict
        assert verdict.checked == len(rows)  # one 'accepted' event per receipt, none lost or doubled
    finally:
        conn.close()


@pytest.mark.slow
def test_acknowledged_receipts_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    """Twenty SIGKILLs 50–400 ms after the daemon went live lose no acknowledged receipt and corrupt nothing."""
    rng = random.Random(20261127)
    daemon = prepare_daemon(tmp_path / "daemon")
    acked: dict[str, str] = {}
    attempted = 0
    upcoming = daemon.spawn(held=True)  # imports while nothing else runs; restarts then cost only the startup
    try:
        for round_no in range(ROUNDS):
            daemon.release(upcoming)
            daemon.wait_live()
            upcoming = daemon.spawn(held=True)  # the next incarnation loads its code during this round
            attempted += asyncio.run(load_until_killed(daemon, round_no, rng.uniform(0.05, 0.4), acked))
            assert daemon.process is not None
            assert daemon.process.wait(timeout=10) == -signal.SIGKILL
        check_file(daemon.db_path, acked)
        daemon.release(upcoming)
        daemon.wait_live()
        replay_key = rng.choice(sorted(acked))
        replay = httpx.post(
            f"{daemon.base_url}/v1/receipts",
            json=body_for(replay_key),
            headers={"Idempotency-Key": replay_key},
            timeout=10,
        )
        assert replay.status_code == 200
    finally:
        daemon.stop()
        if upcoming.poll() is None:
            upcoming.kill()
            upcoming.wait(timeout=10)
    assert len(acked) >= ROUNDS * CLIENTS  # the harness really wrote under every kill
    assert attempted > len(acked)  # and some requests were cut off by the kill
