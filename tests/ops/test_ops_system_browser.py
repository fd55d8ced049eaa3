"""The cashier page of the whole running system in a real headless chromium (issue 6's done-when).

Three processes, as ``kkt-adapter up`` starts them: the emulated KKT on a pty (``kkt-adapter emulator``),
the OFD simulator (``kkt-adapter ofd-sim``, TCP) and the daemon (``kkt-adapter run``) configured to use both.
Nothing here feeds the page: the problems come from the device worker's status polls and the sync
worker's breaker. The health model calls the OFD unreachable when the breaker is open (or after
``ofd_failures_warn`` consecutive failures); the config sets ``[sync] fail_max = 1`` so that one refused
submission opens it, and ``reset_timeout_s = 1`` / ``success_threshold = 1`` so that one delivered probe
closes it again once the simulator is back.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_harness import Daemon, free_port, make_receipt, prepare_daemon, wait_until
from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright
from prereq import missing

from kkt_adapter.daemon.up import host_timezone
from kkt_adapter.ofd.sim.control import RunningSim, spawned

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ops"
PAGE_DEADLINE_MS = 20_000  # the page polls every 3 s; the device worker every 2 s; the breaker probes after 1 s


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Every test here drives Debian's chromium: skipped without it locally, a failure under CI=true."""
    if not Path(CHROMIUM).exists():
        missing("Debian's chromium (apt install chromium)")


@dataclass
class System:
    """The running system: the daemon, the emulator's control URL, the OFD simulator."""

    daemon: Daemon
    emulator_control: str
    ofd: RunningSim

    def sell(self, key: str, total_kop: int, wait_s: float = 0) -> None:
        """POST a one-line receipt under ``key``; it must be accepted (2xx)."""
        line = {"name": "Товар", "price_kop": total_kop, "quantity": "1", "amount_kop": total_kop, "vat": "vat10"}
        body = make_receipt(items=[line], payments=[{"type": "cash", "amount_kop": total_kop}], total_kop=total_kop)
        answer = httpx.post(
            f"{self.daemon.base_url}/v1/receipts",
            params={"wait": wait_s},
            json=body,
            headers={"Idempotency-Key": key},
            timeout=wait_s + 10,
        )
        assert answer.is_success, answer.text

    def state_of(self, key: str) -> str:
        """The receipt's state in the buffer."""
        state: str = httpx.get(f"{self.daemon.base_url}/v1/receipts/{key}", timeout=5).json()["state"]
        return state

    def wait_state(self, key: str, state: str, timeout_s: float = 15) -> None:
        """Wait until receipt ``key`` is in ``state``."""
        wait_until(lambda: self.state_of(key) == state, timeout_s, f"receipt {key} {state}", poll_s=0.05)

    def emulator_faults(self, **switches: Any) -> None:
        """Set the emulator's fault switches (``POST /faults``)."""
        httpx.post(f"{self.emulator_control}/faults", json=switches, timeout=5).raise_for_status()

    def emulator_state(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.emulator_control}/state", timeout=5).json()
        return state

    def ofd_breaker(self) -> str:
        """The OFD relay breaker's state as the health endpoint reports it."""
        health = httpx.get(f"{self.daemon.base_url}/v1/health", timeout=5).json()
        breaker: str = health["snapshot"]["ofd"]["breaker"]
        return breaker


def _emulator_answers(process: subprocess.Popen[bytes], control: str) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the emulator exited with {process.returncode}")
    try:
        return httpx.get(f"{control}/state", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    """Emulator, OFD simulator and daemon as subprocesses on free ports; all stopped after the test."""
    control = f"http://127.0.0.1:{free_port()}"
    link = tmp_path / "kkt1"
    argv = ["emulator", "--link", str(link), "--state", str(tmp_path / "emu.json")]
    argv += ["--control-port", control.rsplit(":", 1)[1]]
    emulator = subprocess.Popen([sys.executable, "-m", "kkt_adapter", *argv], stdout=subprocess.DEVNULL, cwd=tmp_path)
    try:
        wait_until(lambda: _emulator_answers(emulator, control), 20, "the emulator's control API", poll_s=0.05)
        with spawned() as ofd:
            daemon = _daemon(tmp_path, ofd, link)
            daemon.start()
            try:
                yield System(daemon, control, ofd)
            finally:
                daemon.stop()
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(timeout=10)


def _daemon(tmp_path: Path, ofd: RunningSim, link: Path) -> Daemon:
    daemon = prepare_daemon(
        tmp_path / "daemon",
        {
            "buffer": {"min_free_bytes": 0},
            "ofd": {
                "mode": "relay",
                "host": "127.0.0.1",
                "port": ofd.port,
                "connect_timeout_s": 1.0,
                "read_timeout_s": 2.0,
            },
            "sync": {
                "fail_max": 1,
                "reset_timeout_s": 1.0,
                "success_threshold": 1,
                "backoff_base_s": 0.2,
                "backoff_cap_s": 1.0,
            },
            "ops": {"fn_watch_interval_s": 1.0, "timezone": host_timezone()},
        },
    )
    # TOML arrays of tables are not written by daemon_harness.toml_dump: append the device by hand.
    with daemon.config_path.open("a", encoding="utf-8") as config:
        config.write(f'\n[[devices]]\nid = "kkt1"\nport = "{link}"\nanswer_timeout_s = 2.0\n')
    return daemon


def _launch(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def _problem(page: Page, code: str) -> Locator:
    return page.locator(f'#problems li[data-code="{code}"]')


def test_page_shows_paper_and_ofd_problems_of_the_real_system_then_turns_green(system: System) -> None:
    """With the emulator's paper out and the OFD simulator down, the page of the real daemon states both
    problems with their actions in Russian; once paper is back and the OFD is up the light turns green
    in the same document (no reload), and every receipt's FN document reaches the OFD (the FN's queue empty)."""
    system.sell("sys-1", 10_000, wait_s=10)
    wait_until(lambda: system.emulator_state()["unsent"]["count"] == 0, 15, "the FN's queue to drain", poll_s=0.1)
    system.ofd.control.fault("refuse")
    system.sell("sys-2", 20_000, wait_s=10)
    system.wait_state("sys-2", "fiscalized")
    wait_until(lambda: system.ofd_breaker() == "open", 15, "the relay breaker to open", poll_s=0.1)
    system.emulator_faults(paper_out=True)
    system.sell("sys-3", 30_000)  # waits for paper: the printer must not print it now
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = _launch(pw)
        try:
            page = browser.new_page(viewport={"width": 360, "height": 740})
            page.goto(system.daemon.base_url + "/", timeout=10_000)
            expect(page.locator("body")).to_have_attribute("data-verdict", "critical", timeout=PAGE_DEADLINE_MS)
            paper, ofd = _problem(page, "paper_out"), _problem(page, "ofd_unreachable")
            expect(paper).to_have_count(1, timeout=PAGE_DEADLINE_MS)
            expect(ofd).to_have_count(1, timeout=PAGE_DEADLINE_MS)
            expect(paper).to_contain_text("бумага")
            expect(paper).to_contain_text("вставьте новый рулон")
            expect(ofd).to_contain_text("Нет связи с ОФД")
            expect(ofd).to_contain_text("в ОФД, самый старый от")
            expect(ofd).to_contain_text("проверьте подключение к интернету")
            page.screenshot(path=str(ARTIFACTS / "system-problems.png"), full_page=True)
            assert system.state_of("sys-3") == "accepted", "nothing may print while the paper is out"
            page.evaluate("window.__marker = 'same document'")
            system.emulator_faults(paper_out=False)
            system.ofd.control.clear()
            expect(page.locator("body")).to_have_attribute("data-verdict", "ok", timeout=PAGE_DEADLINE_MS)
            expect(page.locator("#headline")).to_have_text("Всё в порядке")
            expect(page.locator("#problems li")).to_have_count(0)
            assert page.evaluate("window.__marker") == "same document", "the page must not have reloaded"
            page.screenshot(path=str(ARTIFACTS / "system-ok.png"), full_page=True)
        finally:
            browser.close()
    system.wait_state("sys-3", "fiscalized")
    wait_until(lambda: system.emulator_state()["unsent"]["count"] == 0, 15, "the FN's queue to drain", poll_s=0.1)
    receipt_fds = {doc["fd_number"] for doc in system.emulator_state()["archive"] if doc["doc_type"] == 3}
    at_ofd = {row["fd_number"] for row in system.ofd.control.received()}
    assert len(receipt_fds) == 3
    assert receipt_fds <= at_ofd, "every receipt's FN document reached the OFD simulator"
