"""Every VAT rate through the real daemon to the emulated KKT (its own process on a pty): each line of the
signed FN document at its own rate; the rate the vendor's sources do not settle is rejected with its reason.

Tax bytes: javapos ``FiscalPrinterImpl.getVatCodeShtrih`` / ``Doc/VatTable.txt`` (docs/kkt-encodings.md).
The machine's date is the device's: 20 % and 20/120 are valid only on a return from 2026 on (receipt rules),
so the receipt is a sale return under the simplified system (5 % and 7 % are USN rates).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_harness import Daemon, announced, make_receipt, prepare_daemon, wait_until
from kkt_emu import ALL_BUT_7_107, TAG_1199

pytestmark = pytest.mark.timeout(90)


def _receipt(vats: list[str]) -> dict[str, Any]:
    items = [
        {"name": f"Товар {v}", "price_kop": 10_000 + i, "quantity": "1", "amount_kop": 10_000 + i, "vat": v}
        for i, v in enumerate(vats)
    ]
    total = sum(item["amount_kop"] for item in items)
    return make_receipt(
        operation="sell_return",
        tax_system="usn_income",
        items=items,
        payments=[{"type": "electronic", "amount_kop": total}],
        total_kop=total,
    )


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Daemon, str]]:
    """The emulator and the daemon, each its own process; yields the daemon and the emulator's control URL."""
    for name in [n for n in os.environ if n.startswith("KKT_ADAPTER_")]:
        monkeypatch.delenv(name)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "kkt_adapter", "emulator", "--link", str(tmp_path / "kkt1"), "--state",
         str(tmp_path / "emu.json"), "--no-fsync"],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        link, control = announced(emulator, ("port: ", "control: "), 15)
        daemon = prepare_daemon(tmp_path / "daemon", {"buffer": {"min_free_bytes": 0}})
        text = daemon.config_path.read_text(encoding="utf-8")
        text += f'\n[[devices]]\nid = "kkt1"\nport = "{link}"\nanswer_timeout_s = 2.0\n'
        daemon.config_path.write_text(text, encoding="utf-8")
        daemon.start()
        try:
            yield daemon, control
        finally:
            daemon.stop()
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=10)
        if emulator.stdout is not None:
            emulator.stdout.close()


def _post_and_settle(daemon: Daemon, key: str, body: dict[str, Any]) -> dict[str, Any]:
    url = daemon.base_url
    answer = httpx.post(f"{url}/v1/receipts", json=body, headers={"Idempotency-Key": key}, timeout=10)
    assert answer.status_code in (201, 202), answer.text
    seen: dict[str, Any] = {}

    def settled() -> bool:
        seen.update(httpx.get(f"{url}/v1/receipts/{key}", timeout=5).json())
        return seen["state"] in ("fiscalized", "delivered", "rejected")

    wait_until(settled, 30, f"receipt {key} fiscalized or rejected", poll_s=0.1)
    return seen


def test_each_rate_reaches_the_fn_at_its_own_rate(system: tuple[Daemon, str]) -> None:
    """11 rates on one 2026 return: fiscalized; the emulator's FN document has one line per rate, each with
    its own tag 1199 and rate name. A 7/107 receipt is rejected with the reason, nothing signed for it."""
    daemon, control = system
    assert dt.date.today() >= dt.date(2026, 1, 1), "the rates below are the 2026 set"
    done = _post_and_settle(daemon, "all-rates", _receipt(ALL_BUT_7_107))
    assert done["state"] in ("fiscalized", "delivered"), done
    archive = httpx.get(f"{control}/state", timeout=5).json()["archive"]
    (doc,) = [d for d in archive if d["doc_type"] == 3]
    lines = {line["name"].removeprefix("Товар "): line for line in doc["lines"]}
    assert {v: lines[v]["tag_1199"] for v in ALL_BUT_7_107} == {v: TAG_1199[v] for v in ALL_BUT_7_107}
    assert lines["vat20"]["rate"] == "НДС 20%"
    assert lines["vat22"]["rate"] == "НДС 22%"

    refused = _post_and_settle(daemon, "seven-107", _receipt(["vat22", "vat107"]))
    assert refused["state"] == "rejected", refused
    assert "7/107" in str(refused)
    archive = httpx.get(f"{control}/state", timeout=5).json()["archive"]
    assert len([d for d in archive if d["doc_type"] == 3]) == 1
