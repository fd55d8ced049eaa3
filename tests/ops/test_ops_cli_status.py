"""``kkt-adapter status`` against a real uvicorn serving the health routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from kkt_adapter.ops import cli_status
from kkt_adapter.ops.health_api import HealthSource, health_router
from kkt_adapter.ops.snapshot import BufferSnapshot, DeviceSnapshot, FnSnapshot, Snapshot

Serve = Callable[[FastAPI], str]
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def app_with(snapshot: Snapshot) -> FastAPI:
    app = FastAPI()
    app.include_router(health_router)
    app.state.health = HealthSource(lambda: snapshot, lambda: NOW)
    return app


@pytest.mark.parametrize(
    ("snapshot", "code", "headline"),
    [
        (Snapshot(taken_at=NOW, taken_mono=0.0), 0, "kkt-adapter: OK"),
        (Snapshot(taken_at=NOW, taken_mono=0.0, buffer=BufferSnapshot(dlq_size=1)), 1, "kkt-adapter: DEGRADED"),
        (
            Snapshot(taken_at=NOW, taken_mono=0.0, devices=(DeviceSnapshot(device_id="kkt1", connected=False),)),
            2,
            "kkt-adapter: CRITICAL",
        ),
    ],
)
def test_exit_code_follows_the_verdict(
    serve: Serve, capsys: pytest.CaptureFixture[str], snapshot: Snapshot, code: int, headline: str
) -> None:
    """The exit code is 0/1/2 for ok/degraded/critical and the first line names the verdict."""
    assert cli_status.main(["--url", serve(app_with(snapshot))]) == code
    assert capsys.readouterr().out.startswith(headline)


def test_prints_sentences_and_numbers(serve: Serve, capsys: pytest.CaptureFixture[str]) -> None:
    """The output lists each problem's sentence, the queue, the OFD backlog and each device."""
    fn = FnSnapshot(serial="9999", unsent_count=5, oldest_unsent_at=NOW - timedelta(days=8))
    dev = DeviceSnapshot(device_id="kkt1", connected=True, paper_present=False, fn=fn)
    snapshot = Snapshot(taken_at=NOW, taken_mono=0.0, devices=(dev,), buffer=BufferSnapshot({"accepted": 2}))
    assert cli_status.main(["--url", serve(app_with(snapshot))]) == 2
    out = capsys.readouterr().out
    assert "  [critical] Закончилась бумага — вставьте новый рулон" in out
    assert "receipts: accepted 2;" in out
    assert "unsent 5, oldest 8.0 d, days to block 22" in out
    assert "device kkt1: connected" in out
    assert "intake: accepting" in out


def test_unreachable_daemon_is_critical(capsys: pytest.CaptureFixture[str], free_tcp_port: int) -> None:
    """When nothing answers at the address, status says so and exits 2."""
    assert cli_status.main(["--url", f"http://127.0.0.1:{free_tcp_port}", "--timeout", "2"]) == 2
    assert "does not answer" in capsys.readouterr().err
