"""Health routes and the cashier page served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import httpx
from fastapi import FastAPI

from kkt_adapter.kkt.types import Mode, SubMode
from kkt_adapter.ops.health_api import HealthSource, health_router, readiness_router
from kkt_adapter.ops.page import page_router
from kkt_adapter.ops.snapshot import BufferSnapshot, DeviceSnapshot, FnSnapshot, Snapshot

MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=MSK)
Serve = Callable[[FastAPI], str]


def make_app(snapshot: Snapshot) -> FastAPI:
    app = FastAPI()
    app.include_router(health_router)
    app.include_router(readiness_router)
    app.include_router(page_router)
    app.state.health = HealthSource(lambda: snapshot, lambda: NOW)
    return app


def paper_out() -> Snapshot:
    dev = DeviceSnapshot(
        device_id="kkt1",
        connected=True,
        mode=Mode.SHIFT_OPEN,
        sub_mode=SubMode.PAPER_OUT_ACTIVE,
        paper_present=False,
        shift_open=True,
        shift_opened_at=NOW - timedelta(hours=1),
        fn=FnSnapshot(serial="1", unsent_count=3, oldest_unsent_at=NOW - timedelta(days=4)),
    )
    return Snapshot(taken_at=NOW, taken_mono=1.0, devices=(dev,))


def test_health_json_has_verdict_sentences_and_numbers(serve: Serve) -> None:
    """``GET /v1/health`` returns the verdict, each problem's sentence, the key numbers and the snapshot."""
    body = httpx.get(serve(make_app(paper_out())) + "/v1/health", timeout=5).json()
    assert body["verdict"] == "critical"
    assert "Закончилась бумага — вставьте новый рулон" in [p["sentence_ru"] for p in body["problems"]]
    assert body["numbers"]["days_to_ofd_block"] == 26
    assert body["numbers"]["devices"]["kkt1"]["shift_age_h"] == 1.0
    assert body["snapshot"]["devices"][0]["sub_mode"] == "paper_out_active"
    assert body["ready"] is True


def test_ready_is_503_when_receipts_cannot_be_accepted(serve: Serve) -> None:
    """``/health/ready`` is 200 normally and 503 with a reason when the buffer is not writable."""
    ok = httpx.get(serve(make_app(paper_out())) + "/health/ready", timeout=5)
    assert ok.status_code == 200
    broken = Snapshot(taken_at=NOW, taken_mono=1.0, buffer=BufferSnapshot(writable=False))
    resp = httpx.get(serve(make_app(broken)) + "/health/ready", timeout=5)
    assert resp.status_code == 503
    assert resp.json()["reason"].startswith("Касса не может сохранять чеки")


def test_page_is_self_contained_and_polls_health(serve: Serve) -> None:
    """The page at ``/`` is HTML with no external URL and fetches ``/v1/health`` itself."""
    resp = httpx.get(serve(make_app(paper_out())) + "/", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert re.search(r"(src|href)=\"?(https?:)?//", html) is None
    assert "/v1/health" in html
    assert "/v1/admin/dlq/replay-all" in html
    assert 'name="viewport"' in html
