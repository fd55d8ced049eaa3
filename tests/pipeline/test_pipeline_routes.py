"""Device routes and the ``kkt-adapter shift`` CLI against a real uvicorn server, pipeline and emulator."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pipeline_app import ADMIN_TOKEN, build, serve
from pipeline_rig import make_emulator, sale, settings_for

from kkt_adapter.buffer.store import Store
from kkt_adapter.emulator.emulator import Emulator
from kkt_adapter.ops import cli_orphans
from kkt_adapter.pipeline import cli_device, cli_shift
from kkt_adapter.receipts.model import TaxSystem

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[str, Emulator]]:
    with make_emulator(tmp_path, "kkt1") as emu:
        settings = settings_for({"kkt1": emu.link_path}, tmp_path / "buffer.db", auto_open=False)
        with serve(build(settings)) as url:
            deadline = time.monotonic() + 10
            while httpx.get(f"{url}/v1/devices").json()["devices"][0]["heartbeat_mono"] is None:
                assert time.monotonic() < deadline, "device never connected"
                time.sleep(0.05)
            yield url, emu


def test_devices_list_answers_from_the_cache_without_a_token(daemon: tuple[str, Emulator]) -> None:
    """GET /v1/devices shows the device's cached status (connected, FN serial, shift closed)."""
    url, emu = daemon
    [device] = httpx.get(f"{url}/v1/devices").json()["devices"]
    assert device["device_id"] == "kkt1"
    assert device["fn_serial"] == emu.snapshot()["fn"]["serial"]
    assert device["mode"] == "shift_closed"


def test_admin_actions_need_the_admin_token(daemon: tuple[str, Emulator]) -> None:
    """Without the token the action is refused (401) and nothing happens on the device."""
    url, emu = daemon
    answer = httpx.post(f"{url}/v1/admin/devices/kkt1/open-shift")
    assert answer.status_code == 401
    assert not emu.shift_open


def test_shift_open_receipt_and_close_through_the_api(daemon: tuple[str, Emulator], tmp_path: Path) -> None:
    """Open shift → a receipt posted with wait comes back 201 with a fiscal sign → Z closes the shift; audited."""
    url, emu = daemon
    assert httpx.post(f"{url}/v1/admin/devices/kkt1/open-shift", headers=AUTH).status_code == 200
    assert emu.shift_open
    body = sale(1990, "pos-1").model_dump(mode="json", exclude_none=True)
    answer = httpx.post(f"{url}/v1/receipts?wait=10", json=body, timeout=15)
    assert answer.status_code == 201, answer.text
    assert answer.json()["state"] == "fiscalized"
    assert httpx.post(f"{url}/v1/admin/devices/kkt1/x-report", headers=AUTH).status_code == 200
    assert httpx.post(f"{url}/v1/admin/devices/kkt1/close-shift", headers=AUTH).status_code == 200
    assert not emu.shift_open
    assert [d.doc_type for d in emu.archive] == [2, 3, 5]
    with sqlite3.connect(tmp_path / "buffer.db") as conn:
        audited = [row[0] for row in conn.execute("SELECT reason FROM events WHERE kind = 'audit' AND actor = 'admin'")]
    assert audited == ["device open-shift", "device x-report", "device close-shift"]


def test_unknown_device_is_404(daemon: tuple[str, Emulator]) -> None:
    """An action on a device that is not configured answers 404."""
    url, _ = daemon
    assert httpx.post(f"{url}/v1/admin/devices/nope/x-report", headers=AUTH).status_code == 404


def test_shift_cli_opens_and_closes_the_shift(
    daemon: tuple[str, Emulator], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kkt-adapter shift open/close`` with the token from a file or the environment drives the device."""
    url, emu = daemon
    token_file = tmp_path / "admin.token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    assert cli_shift.main(["open", "--url", url, "--token-file", str(token_file)]) == 0
    assert emu.shift_open
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", ADMIN_TOKEN)
    assert cli_shift.main(["close", "--url", url, "--device", "kkt1"]) == 0
    assert not emu.shift_open
    assert cli_shift.main(["close", "--url", url, "--device", "kkt1"]) == 1  # no shift to close: refused


def test_shift_cli_without_a_token_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """No token anywhere → exit 2, nothing sent."""
    monkeypatch.delenv("KKT_ADAPTER_ADMIN_TOKEN", raising=False)
    assert cli_shift.main(["open", "--url", "http://127.0.0.1:9"]) == 2


def _audits(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT reason, detail FROM events WHERE kind = 'audit' AND actor = 'admin' ORDER BY seq")
        return [(str(reason), str(detail)) for reason, detail in rows]


def _first_offset(url: str) -> float:
    """The daemon's first measured clock offset of kkt1 (device − host, s)."""
    deadline = time.monotonic() + 10
    while (offset := httpx.get(f"{url}/v1/devices").json()["devices"][0].get("clock_offset_s")) is None:
        assert time.monotonic() < deadline, "the device's clock was never read"
        time.sleep(0.05)
    return float(offset)


def _wait_offset(url: str, near_s: float) -> float:
    """The daemon's measured clock offset of kkt1 once it is within 60 s of ``near_s``."""
    deadline = time.monotonic() + 10
    while True:
        offset = httpx.get(f"{url}/v1/devices").json()["devices"][0].get("clock_offset_s")
        if offset is not None and abs(offset - near_s) < 60:
            return float(offset)
        assert time.monotonic() < deadline, f"offset never near {near_s}: {offset}"
        time.sleep(0.05)


def test_set_clock_sets_the_device_clock_from_the_hosts_and_is_audited(
    daemon: tuple[str, Emulator], tmp_path: Path
) -> None:
    """Shift closed, device 2 h ahead of the host: set-clock brings the offset under a few seconds; audited ok."""
    url, emu = daemon
    base = _first_offset(url)
    emu.advance_clock(7200)
    _wait_offset(url, base + 7200)
    answer = httpx.post(f"{url}/v1/admin/devices/kkt1/set-clock", headers=AUTH, timeout=15)
    assert answer.status_code == 200, answer.text
    assert abs(answer.json()["offset_s"]) < 5
    assert abs(answer.json()["offset_s_before"] - (base + 7200)) < 60
    assert _audits(tmp_path / "buffer.db")[-1][0] == "device set-clock"
    assert '"ok"' in _audits(tmp_path / "buffer.db")[-1][1]


def test_set_clock_is_refused_while_the_shift_is_open(daemon: tuple[str, Emulator], tmp_path: Path) -> None:
    """Shift open: 409 with the reason, the device's clock unchanged, the refusal audited."""
    url, emu = daemon
    assert httpx.post(f"{url}/v1/admin/devices/kkt1/open-shift", headers=AUTH).status_code == 200
    emu.advance_clock(7200)
    before = emu.now()
    answer = httpx.post(f"{url}/v1/admin/devices/kkt1/set-clock", headers=AUTH, timeout=15)
    assert answer.status_code == 409
    assert "смена 1 открыта" in answer.json()["message"]
    assert abs((emu.now() - before).total_seconds()) < 5
    reason, detail = _audits(tmp_path / "buffer.db")[-1]
    assert reason == "device set-clock"
    assert "refused" in detail


def test_device_cli_set_clock(daemon: tuple[str, Emulator], monkeypatch: pytest.MonkeyPatch) -> None:
    """``kkt-adapter device set-clock`` exits 0 with the shift closed, 1 (refused) with it open."""
    url, _ = daemon
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", ADMIN_TOKEN)
    assert cli_device.main(["set-clock", "--url", url]) == 0
    assert cli_shift.main(["open", "--url", url]) == 0
    assert cli_device.main(["set-clock", "--url", url]) == 1


def test_closing_a_closed_shift_says_so(daemon: tuple[str, Emulator]) -> None:
    """Close with no shift open: 409 "смена уже закрыта", not the device's 0x73; nothing sent to the device."""
    url, emu = daemon
    answer = httpx.post(f"{url}/v1/admin/devices/kkt1/close-shift", headers=AUTH, timeout=15)
    assert answer.status_code == 409
    assert "смена уже закрыта" in answer.json()["message"]
    assert "0x73" not in answer.json()["message"]
    assert emu.archive == []


def test_receipts_of_a_removed_device_are_moved_or_rejected_by_an_audited_action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`orphans move gone --to kkt1` gives its accepted receipt to kkt1, which prints it; `orphans reject`
    rejects the other's; both audited; a configured device is refused (409)."""
    db = tmp_path / "buffer.db"

    async def seed() -> None:
        store = await Store.open(db, min_free_bytes=0)
        try:
            await store.insert_receipt("left-1", sale(100, "left-1"), "gone", TaxSystem.OSN)
            await store.insert_receipt("left-2", sale(200, "left-2"), "gone2", TaxSystem.OSN)
        finally:
            await store.close()

    asyncio.run(seed())
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", ADMIN_TOKEN)
    with make_emulator(tmp_path, "kkt1") as emu:
        settings = settings_for({"kkt1": emu.link_path}, db)
        with serve(build(settings)) as url:
            assert cli_orphans.main(["move", "gone", "--to", "kkt1", "--url", url]) == 0
            assert cli_orphans.main(["reject", "gone2", "--url", url]) == 0
            assert cli_orphans.main(["reject", "kkt1", "--url", url]) == 1
            deadline = time.monotonic() + 10
            while [d.doc_type for d in emu.archive].count(3) < 1:
                assert time.monotonic() < deadline, "the moved receipt was never printed"
                time.sleep(0.05)
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT key, state FROM receipts").fetchall())
    assert states["left-2"] == "rejected"
    assert states["left-1"] in ("fiscalized", "delivered")
    assert {"orphans move", "orphans reject"} <= {reason for reason, _ in _audits(db)}
