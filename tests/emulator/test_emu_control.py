"""The emulator's HTTP control API (real uvicorn on 127.0.0.1) and its command line."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from emu_helpers import RawClient, decode_frame, ff45, ff46, request

from kkt_adapter.emulator import Emulator
from kkt_adapter.emulator.control import ControlServer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def api(emu: Emulator) -> Iterator[httpx.Client]:
    """An HTTP client on a control server for ``emu`` (free port)."""
    server = ControlServer(emu, port=0).start()
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http
    server.stop()


def test_state_shows_mode_shift_and_counters(api: httpx.Client, raw: RawClient) -> None:
    """GET /state reflects a shift opened over the serial port."""
    raw.command(request(0xE0))
    state = api.get("/state").json()
    assert (state["mode"], state["sub_mode"], state["shift"]["number"]) == (2, 0, 1)
    assert state["fn"]["last_fd"] == 1
    assert state["unsent"]["count"] == 1
    assert state["archive"][0]["doc_type"] == 2
    assert state["port"]["present"] is True


def test_faults_endpoint_sets_and_clears(api: httpx.Client, raw: RawClient) -> None:
    """POST /faults turns paper out on (device answers 0x6B), and ``clear`` resets it."""
    assert api.post("/faults", json={"paper_out": True}).json()["paper_out"] is True
    assert decode_frame(raw.command(request(0xE0))) == b"\xe0\x6b"
    assert api.post("/faults", json={"clear": True}).json()["paper_out"] is False
    assert decode_frame(raw.command(request(0xE0))) == b"\xe0\x00"


def test_faults_endpoint_rejects_unknown_names(api: httpx.Client) -> None:
    """An unknown fault name is a 422 and changes nothing."""
    assert api.post("/faults", json={"paper_out": True, "bogus": 1}).status_code == 422
    assert api.get("/state").json()["faults"]["paper_out"] is False


def test_clock_endpoint_ages_the_shift(api: httpx.Client, raw: RawClient) -> None:
    """POST /clock with advance_s past 24 h shows the open shift as expired (mode 3)."""
    raw.command(request(0xE0))
    assert api.post("/clock", json={"advance_s": 25 * 3600}).json()["offset_s"] == 25 * 3600
    state = api.get("/state").json()
    assert state["mode"] == 3
    assert state["shift"]["expired"] is True
    assert api.post("/clock", json={"offset_s": 0}).json()["offset_s"] == 0


def test_ofd_ack_endpoint_confirms_documents(api: httpx.Client, raw: RawClient) -> None:
    """POST /ofd/ack confirms up to an FD, then everything."""
    raw.command(request(0xE0))
    raw.command(request(0xFF46, ff46(100)))
    raw.command(request(0xFF45, ff45(cash=100)))
    assert api.post("/ofd/ack", json={"up_to": 1}).json() == {"confirmed": 1, "unsent": 1}
    assert api.post("/ofd/ack", json={}).json() == {"confirmed": 1, "unsent": 0}


def test_fn_replace_starts_a_new_fn_and_refuses_an_open_shift(api: httpx.Client, raw: RawClient) -> None:
    """POST /fn/replace is 409 with a shift open; with it closed the FN has serial + 1, FD 0, no archive."""
    raw.command(request(0xE0))
    old = api.get("/state").json()["fn"]["serial"]
    assert api.post("/fn/replace", json={}).status_code == 409
    assert api.get("/state").json()["fn"]["last_fd"] == 1
    raw.command(request(0x41))
    answer = api.post("/fn/replace", json={}).json()
    state = api.get("/state").json()
    assert answer == {"fn_serial": f"{int(old) + 1:016d}", "last_fd": 0}
    assert (state["fn"]["serial"], state["fn"]["last_fd"], state["archive"]) == (answer["fn_serial"], 0, [])


def test_port_endpoints_vanish_and_restore(api: httpx.Client, emu: Emulator) -> None:
    """POST /port/vanish removes the port until POST /port/restore."""
    api.post("/port/vanish", json={"seconds": None})
    assert emu.wait_port(present=False, timeout_s=2)
    assert api.get("/state").json()["port"]["present"] is False
    api.post("/port/restore")
    assert emu.wait_port(present=True, timeout_s=2)


def _read_lines(proc: subprocess.Popen[bytes], count: int, timeout_s: float) -> list[str]:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout_s
    while data.count(b"\n") < count and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
    return data.decode().splitlines()


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    """``kkt-adapter emulator`` prints the port and control URL, serves both, and exits 0 on SIGTERM."""
    link = tmp_path / "kkt0"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kkt_adapter", "emulator", "--link", str(link), "--state", str(tmp_path / "s.json")],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = _read_lines(proc, 2, 15)
        assert lines[0] == f"port: {link}"
        url = lines[1].removeprefix("control: ")
        client = RawClient(str(link))
        assert decode_frame(client.command(request(0xE0)))[:2] == b"\xe0\x00"
        client.close()
        assert httpx.get(f"{url}/state", timeout=5).json()["fn"]["last_fd"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert not link.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()


def test_relay_faults_through_the_control_api(api: httpx.Client, raw: RawClient) -> None:
    """POST /faults sets the FN relay faults (a refusing FN, a slow FN, a changing message) and refuses a bad
    refusal code; GET /state shows the head message's size and the refusals."""
    raw.command(request(0xE0))
    faults = api.post("/faults", json={"refuse_ticket_code": 0x20, "ofd_delay_ms": 5, "ofd_length_change": True})
    assert (faults.json()["refuse_ticket_code"], faults.json()["ofd_delay_ms"]) == (0x20, 5)
    assert api.post("/faults", json={"refuse_ticket_code": 300}).status_code == 422
    relay = api.get("/state").json()["ofd_relay"]
    assert relay["message_bytes"] > 62
    assert (relay["tickets_taken"], relay["tickets_refused"], relay["last_refusal"]) == (0, 0, None)
