"""The cashier page in a real headless chromium (Debian's, driven by Playwright) against a real uvicorn."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from playwright.sync_api import Dialog, Page, expect, sync_playwright
from prereq import missing

from kkt_adapter.kkt.types import Mode, SubMode
from kkt_adapter.ops.health_api import HealthSource, health_router
from kkt_adapter.ops.page import page_router
from kkt_adapter.ops.snapshot import BreakerState, BufferSnapshot, DeviceSnapshot, FnSnapshot, OfdSnapshot, Snapshot

Serve = Callable[[FastAPI], str]
MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=MSK)
CHROMIUM = shutil.which("chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ops"


@pytest.fixture(autouse=True)
def _chromium() -> None:
    """Every test here drives Debian's chromium: skipped without it locally, a failure under CI=true."""
    if CHROMIUM is None:
        missing("Debian's chromium (apt install chromium)")


def snapshot(*, broken: bool) -> Snapshot:
    dev = DeviceSnapshot(
        device_id="kkt1",
        connected=True,
        mode=Mode.SHIFT_OPEN,
        sub_mode=SubMode.PAPER_OUT_ACTIVE if broken else SubMode.PAPER_OK,
        paper_present=not broken,
        shift_open=True,
        shift_opened_at=NOW - timedelta(hours=1),
    )
    if not broken:
        return Snapshot(taken_at=NOW, taken_mono=1.0, devices=(dev,), ofd=OfdSnapshot(last_success_at=NOW))
    return Snapshot(
        taken_at=NOW,
        taken_mono=1.0,
        devices=(
            replace(dev, fn=FnSnapshot("9999078900001234", unsent_count=142, oldest_unsent_at=NOW - timedelta(days=3))),
        ),
        buffer=BufferSnapshot(counts_by_state={"fiscalized": 142}),
        ofd=OfdSnapshot(BreakerState.OPEN, last_success_at=NOW - timedelta(hours=3), consecutive_failures=7),
    )


def test_page_states_problems_then_turns_green_without_reload(serve: Serve) -> None:
    """Paper out and the OFD down are stated with their actions; once fixed the light turns green in place."""
    state = {"broken": True}
    seen_auth: list[str] = []
    app = FastAPI()
    app.include_router(health_router)
    app.include_router(page_router)
    app.state.health = HealthSource(lambda: snapshot(broken=state["broken"]), lambda: NOW)

    @app.post("/v1/admin/dlq/replay-all")
    async def replay(request: Request) -> dict[str, bool]:
        seen_auth.append(request.headers.get("authorization", ""))
        return {"ok": True}

    url = serve(app)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 360, "height": 740})
            page.goto(url + "/", timeout=10_000)
            _expect_broken(page)
            page.screenshot(path=str(ARTIFACTS / "cashier-page-problems.png"), full_page=True)
            _admin_replay(page, seen_auth)
            page.evaluate("window.__marker = 'same document'")
            state["broken"] = False
            expect(page.locator("body")).to_have_attribute("data-verdict", "ok", timeout=10_000)
            expect(page.locator("#headline")).to_have_text("Всё в порядке")
            expect(page.locator("#problems li")).to_have_count(0)
            assert page.evaluate("window.__marker") == "same document"
            page.screenshot(path=str(ARTIFACTS / "cashier-page-ok.png"), full_page=True)
        finally:
            browser.close()


def _expect_broken(page: Page) -> None:
    expect(page.locator("body")).to_have_attribute("data-verdict", "critical", timeout=10_000)
    problems = page.locator("#problems li")
    expect(problems.filter(has_text="Закончилась бумага — вставьте новый рулон")).to_have_count(1)
    expect(
        problems.filter(has_text="Нет связи с ОФД 3 ч; 142 документа не переданы в ОФД, самый старый от 07.03.2026")
    ).to_have_count(1)
    page.locator("#details summary").click()
    expect(page.locator("#devices")).to_contain_text("режим: смена открыта")
    expect(page.locator("#queue")).to_contain_text("чеки: пробиты")
    expect(page.locator("#ofd")).to_contain_text("обмен с ОФДчерез этот компьютер")
    assert "shift_open" not in page.inner_text("body")
    assert "fiscalized" not in page.inner_text("body")
    page.locator("#details summary").click()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, "the page must fit a small screen without horizontal scrolling"


def _admin_replay(page: Page, seen_auth: list[str]) -> None:
    def answer(dialog: Dialog) -> None:
        if dialog.type == "prompt":
            dialog.accept("s3cret-admin")
        else:
            dialog.accept()

    page.on("dialog", answer)
    page.locator("#details summary").click()
    page.locator("#replay-dlq").click()
    expect(page.locator("#admin-msg")).to_have_text("Готово.", timeout=10_000)
    assert seen_auth == ["Bearer s3cret-admin"]
    assert "s3cret-admin" not in page.inner_text("body")
