"""The OFD relay's admin surface on a real system (emulated KKT process, daemon, ``kkt-adapter ofd-sim``): a
message the OFD answers with an error code is listed by ``kkt-adapter ofd dlq`` with its reason, the alarm
metric counts it, and ``kkt-adapter ofd replay`` sends it again once the OFD accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from daemon_harness import make_receipt, wait_until
from ofd_system import daemon_for, emulator_state

from kkt_adapter.ofd.sim.control import spawned

ADMIN_TOKEN = "ofd-admin-test-token"


def cli(daemon_url: str, token_file: Path, *args: str) -> str:
    argv = [sys.executable, "-m", "kkt_adapter", "ofd", *args, "--url", daemon_url, "--token-file", str(token_file)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_refused_document_is_listed_counted_and_replayed(tmp_path: Path, emulator: tuple[Path, str]) -> None:
    """OFD answer code 14 → `ofd dlq` names it, kkt_ofd_dlq_size is 1, the page says so; cleared and replayed →
    the FN's queue drains."""
    link, control = emulator
    token_file = tmp_path / "admin-token"
    token_file.write_text(ADMIN_TOKEN + "\n", encoding="utf-8")
    with spawned() as sim:
        sim.control.fault("ofd_code", ofd_code=14)
        daemon = daemon_for(tmp_path, link, sim, {"api": {"admin_token_file": str(token_file)}})
        daemon.start()
        try:
            headers = {"Idempotency-Key": "a"}
            httpx.post(f"{daemon.base_url}/v1/receipts", json=make_receipt(), headers=headers, timeout=10)

            def dead() -> bool:
                return "1 OFD message(s) dead or refused" in cli(daemon.base_url, token_file, "dlq")

            wait_until(dead, 30, "the first FN document dead-lettered", 0.3)
            listing = cli(daemon.base_url, token_file, "dlq")
            assert "FD 1  dead" in listing
            assert "OFD answer code 14" in listing
            metrics = httpx.get(f"{daemon.base_url}/metrics", timeout=5).text
            assert "kkt_ofd_dlq_size 1.0" in metrics
            assert 'kkt_ofd_outbox_messages{state="dead"} 1.0' in metrics

            def on_the_page() -> bool:
                health = httpx.get(f"{daemon.base_url}/v1/health", timeout=5).json()
                return any(p["code"] == "ofd_dead" for p in health["problems"])

            wait_until(on_the_page, 10, "the page's problem for the dead message", 0.2)
            sim.control.clear()
            serial = emulator_state(control)["fn"]["serial"]
            assert "goes to the OFD again" in cli(daemon.base_url, token_file, "replay", serial, "1")
            wait_until(lambda: emulator_state(control)["unsent"]["count"] == 0, 30, "the FN's queue to drain", 0.2)
            assert "written 2" in cli(daemon.base_url, token_file, "status")
        finally:
            daemon.stop()
