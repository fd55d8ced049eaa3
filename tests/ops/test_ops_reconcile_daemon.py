"""``kkt-adapter reconcile`` against the real system: the daemon, the emulated KKT on a pty, the HQ export simulator,
each its own process; the FN is read through the daemon's admin route, the buffer file read-only."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_harness import Daemon, announced, make_receipt, prepare_daemon, wait_until

from kkt_adapter.export.sim.server import RunningSim, spawned_sim
from kkt_adapter.kkt.driver import ShtrihDriver
from kkt_adapter.ops import cli_reconcile
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem

ADMIN = "reconcile-admin-token"
EXPORT_TOKEN = "reconcile-export-token"


@dataclass
class System:
    daemon: Daemon
    link: str
    export: RunningSim
    export_db: Path

    def reconcile(self, *extra: str) -> int:
        argv = ["--config", str(self.daemon.config_path), *extra]
        return cli_reconcile.main(argv)

    def sell(self, key: str, total_kop: int) -> None:
        """POST a receipt and wait until the HQ export endpoint confirmed it (``delivered``)."""
        body = _one_line("Товар", total_kop)
        url = self.daemon.base_url
        answer = httpx.post(f"{url}/v1/receipts", json=body, headers={"Idempotency-Key": key}, timeout=10)
        assert answer.status_code in (201, 202), answer.text

        def delivered() -> bool:
            return bool(httpx.get(f"{url}/v1/receipts/{key}", timeout=5).json()["state"] == "delivered")

        wait_until(delivered, 15, f"receipt {key} delivered", poll_s=0.05)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One system for the module (starting three processes costs seconds on a loaded CI box)."""
    tmp_path = tmp_path_factory.mktemp("reconcile")
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("KKT_ADAPTER_")]:
            patch.delenv(name)
        yield from _system(tmp_path)


def _system(tmp_path: Path) -> Iterator[System]:
    (tmp_path / "admin-token").write_text(ADMIN + "\n", encoding="utf-8")
    (tmp_path / "export-token").write_text(EXPORT_TOKEN + "\n", encoding="utf-8")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "kkt_adapter", "emulator", "--link", str(tmp_path / "kkt1"), "--state",
         str(tmp_path / "emu.json")],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        link, _control = announced(emulator, ("port: ", "control: "), 15)
        with spawned_sim(tmp_path / "export.sqlite", tmp_path / "export-token") as export:
            daemon = prepare_daemon(
                tmp_path / "daemon",
                {
                    "api": {"admin_token_file": str(tmp_path / "admin-token")},
                    "buffer": {"min_free_bytes": 0},
                    "devices": [],  # replaced below: TOML arrays of tables are written by hand
                    "export": {
                        "enabled": True,
                        "base_url": export.base_url,
                        "token_file": str(tmp_path / "export-token"),
                    },
                    "sync": {"backoff_base_s": 0.05, "backoff_cap_s": 0.5},
                    "ops": {"fn_watch_interval_s": 1.0},
                },
            )
            text = daemon.config_path.read_text(encoding="utf-8").replace("devices = []\n", "")
            text += f'\n[[devices]]\nid = "kkt1"\nport = "{link}"\nanswer_timeout_s = 2.0\n'
            daemon.config_path.write_text(text, encoding="utf-8")
            daemon.start()
            try:
                yield System(daemon, link, export, tmp_path / "export.sqlite")
            finally:
                daemon.stop()
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=10)
        if emulator.stdout is not None:
            emulator.stdout.close()


def _one_line(name: str, total_kop: int) -> dict[str, Any]:
    line = {"name": name, "price_kop": total_kop, "quantity": "1", "amount_kop": total_kop, "vat": "vat10"}
    return make_receipt(items=[line], payments=[{"type": "cash", "amount_kop": total_kop}], total_kop=total_kop)


def _sell_on_the_device_directly(link: str, total_kop: int) -> None:
    """A receipt fiscalized by another program on the KKT: the buffer never hears of it."""
    driver = ShtrihDriver(link, 115200)
    try:
        driver.connect()
        driver.fiscalize(ReceiptIn.model_validate(_one_line("Мимо кассы", total_kop)), TaxSystem.OSN)
    finally:
        driver.close()


def _last_fd(system: System) -> int:
    url = f"{system.daemon.base_url}/v1/admin/devices/kkt1/fn-documents"
    answer = httpx.get(url, params={"from_fd": 1, "to_fd": 1}, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    return int(answer.json()["last_fd_number"])


@pytest.mark.timeout(60)
def test_reconcile_is_clean_then_names_each_planted_discrepancy(
    system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three delivered receipts reconcile clean (exit 0); a receipt sold on the KKT behind the daemon's back
    is named as an unexplained FN document, a tampered fiscal sign as a mismatch (exit 1 each)."""
    for number, total in enumerate((10_000, 2_550, 99), start=1):
        system.sell(f"rec-{number}", total)
    assert system.reconcile() == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "OK: no discrepancies" in out
    assert "3 / 126.49" in out  # buffer, FN and export columns of the sell row agree
    assert out.count("3 / 126.49") == 3

    system.daemon.stop()
    _sell_on_the_device_directly(system.link, 777)
    system.daemon.start()
    assert system.reconcile() == 1
    out = capsys.readouterr().out
    assert f"[unexplained_fn] FN receipt FD {_last_fd(system)} (sell, 777 kop," in out
    assert "[totals_differ]" in out

    db = system.daemon.db_path
    with sqlite3.connect(db, timeout=5) as conn:
        conn.execute("UPDATE receipts SET fiscal_sign = fiscal_sign + 1 WHERE key = 'rec-2'")
    conn.close()
    assert system.reconcile("--skip-export") == 1
    out = capsys.readouterr().out
    assert "[fn_mismatch] receipt rec-2" in out
    assert "fiscal sign" in out


@pytest.mark.timeout(60)
def test_fn_documents_route_needs_the_admin_token_and_bounds_the_range(system: System) -> None:
    """The FN archive route refuses a request without the admin token (401) and a range over 5,000 (422),
    and answers a valid range with the FN's serial, last FD and documents."""
    url = f"{system.daemon.base_url}/v1/admin/devices/kkt1/fn-documents"
    assert httpx.get(url, params={"from_fd": 1}, timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.get(url, params={"from_fd": 1, "to_fd": 5001}, headers=auth, timeout=10).status_code == 422
    answer = httpx.get(url, params={"from_fd": 1, "to_fd": 10}, headers=auth, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["fn_serial"]) == 16
    assert len(body["documents"]) == min(10, body["last_fd_number"])
    assert [d["fd_number"] for d in body["documents"]] == list(range(1, len(body["documents"]) + 1))


@pytest.mark.timeout(60)
def test_a_delivered_receipt_the_export_endpoint_lost_is_not_at_export_with_the_resend_command(
    system: System, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``delivered`` receipt whose document the HQ export endpoint no longer holds is named ``not_at_export``,
    worded as the export's (not the OFD's), with the ``dlq resend`` command that sends it again."""
    system.sell("lost-at-hq", 321)
    fiscal = httpx.get(f"{system.daemon.base_url}/v1/receipts/lost-at-hq", timeout=5).json()["fiscal"]
    doc_id = f"{fiscal['fn_serial']}-{fiscal['fd_number']}"
    with sqlite3.connect(system.export_db, timeout=5) as conn:
        assert conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount == 1
    conn.close()
    system.reconcile()
    out = capsys.readouterr().out
    assert "; export asked" in out
    assert f"[not_at_export] receipt lost-at-hq is 'delivered' but the HQ export endpoint does not hold {doc_id}" in out
    assert "kkt-adapter dlq resend lost-at-hq" in out
    assert "OFD" not in out
