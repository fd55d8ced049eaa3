"""The DLQ and pause admin routes on a real uvicorn server, driven through the ``dlq`` and ``sync`` CLIs."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from kkt_adapter.api import routes_sync
from kkt_adapter.api.app import create_app
from kkt_adapter.api.deps import Services
from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import Settings
from kkt_adapter.export.outcome import Delivered, Outcome
from kkt_adapter.export.sim.samples import seed_fiscalized
from kkt_adapter.export.sim.server import free_port
from kkt_adapter.sync import cli_dlq, cli_sync
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.worker import SyncWorker

ADMIN = "admin-secret"


async def _never_called(_doc: object) -> Outcome:
    return Delivered("T", 201, "")


@contextlib.contextmanager
def daemon(db: Path) -> Iterator[str]:
    """The API app with the sync routes over a buffer holding 3 fiscalized receipts: 2 dead, 1 delivered."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(db)
        keys = await seed_fiscalized(store, range(3))
        for key in keys[:2]:
            await store.mark_dead(key, "422 document rejected as invalid", '{"error":"validation"}', datetime.now(UTC))
        await store.mark_delivered(keys[2], "T-2", datetime.now(UTC))
        worker = SyncWorker(store, _never_called, SyncConfig())
        app.state.services = Services(
            settings=Settings(), store=store, clock=lambda: datetime.now(UTC), admin_token=SecretStr(ADMIN), sync=worker
        )
        try:
            yield
        finally:
            await store.close()

    app = create_app(64 * 1024, lifespan=lifespan, extra_routers=[routes_sync.router])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", ADMIN)
    with daemon(tmp_path / "buffer.db") as base:
        yield base


def _json(capsys: pytest.CaptureFixture[str], main: object, *argv: str) -> object:
    assert callable(main)
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _audit_reasons(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute("SELECT reason FROM events WHERE kind = 'audit' ORDER BY seq")]


def test_dlq_list_shows_reason_last_response_and_history(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``dlq list`` returns each dead document with its reason, the OFD's answer and its events."""
    answer = _json(capsys, cli_dlq.main, "list", "--url", url)
    assert isinstance(answer, dict)
    assert answer["total"] == 2
    item = answer["items"][0]
    assert (item["key"], item["document_id"]) == ("sale-0", "9999078900012345-1")
    assert item["reason"] == "422 document rejected as invalid"
    assert item["last_response"] == '{"error":"validation"}'
    assert [e["to_state"] for e in item["history"] if e["kind"] == "transition"][-1] == "dead"


def test_replay_one_returns_it_to_fiscalized_and_is_audited(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dlq replay KEY`` moves the document back to fiscalized and writes an audit event."""
    assert _json(capsys, cli_dlq.main, "replay", "sale-0", "--url", url) == {"replayed": 1, "key": "sale-0"}
    status = _json(capsys, cli_sync.main, "status", "--url", url)
    assert isinstance(status, dict)
    assert (status["counts"]["dead"], status["counts"]["fiscalized"]) == (1, 1)
    assert "dlq replay" in _audit_reasons(tmp_path / "buffer.db")


def test_replay_all_and_ack(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``dlq ack`` acknowledges one dead document; ``dlq replay-all`` replays the others, and the acknowledged
    one only with ``--include-acknowledged``."""
    assert _json(capsys, cli_dlq.main, "ack", "sale-1", "--url", url) == {"acknowledged": "sale-1"}
    assert _json(capsys, cli_dlq.main, "replay-all", "--url", url) == {"replayed": 1}
    assert _json(capsys, cli_dlq.main, "replay-all", "--url", url) == {"replayed": 0}
    assert _json(capsys, cli_dlq.main, "replay-all", "--include-acknowledged", "--url", url) == {"replayed": 1}
    reasons = _audit_reasons(tmp_path / "buffer.db")
    assert {"dlq ack", "dlq replay"} <= set(reasons)


def test_replaying_or_acking_a_document_not_in_the_dlq_is_refused(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A key that is not dead gets 409 (exit 1); an unknown key gets 404."""
    assert cli_dlq.main(["replay", "sale-2", "--url", url]) == 1
    assert "409" in capsys.readouterr().err
    assert cli_dlq.main(["ack", "nope", "--url", url]) == 1
    assert "404" in capsys.readouterr().err


def test_pause_and_resume_are_persisted(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sync pause`` persists the switch in the buffer; ``status`` shows it; ``resume`` clears it."""
    assert _json(capsys, cli_sync.main, "pause", "--url", url) == {"paused": True}
    with contextlib.closing(sqlite3.connect(tmp_path / "buffer.db")) as conn:
        assert conn.execute("SELECT value FROM settings WHERE name = 'sync.paused'").fetchone()[0] == "true"
    status = _json(capsys, cli_sync.main, "status", "--url", url)
    assert isinstance(status, dict)
    assert status["paused"] is True
    assert status["worker"]["breaker"] == "closed"
    assert _json(capsys, cli_sync.main, "resume", "--url", url) == {"paused": False}


def test_admin_routes_require_the_admin_token(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No token → 401, wrong token → 403; the CLI reports the refusal and exits 1."""
    assert httpx.get(f"{url}/v1/admin/dlq").status_code == 401
    assert httpx.post(f"{url}/v1/admin/sync/pause", headers={"Authorization": "Bearer x"}).status_code == 403
    monkeypatch.setenv("KKT_ADAPTER_ADMIN_TOKEN", "wrong")
    assert cli_dlq.main(["list", "--url", url]) == 1
    assert "403" in capsys.readouterr().err


def test_cli_without_any_token_says_how_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No env token and no --token-file: exit 1 with a hint, no request sent."""
    monkeypatch.delenv("KKT_ADAPTER_ADMIN_TOKEN", raising=False)
    assert cli_sync.main(["status", "--url", "http://127.0.0.1:9"]) == 1
    assert "KKT_ADAPTER_ADMIN_TOKEN" in capsys.readouterr().err


def test_resend_sends_a_delivered_document_again_and_is_audited(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dlq resend KEY`` (reconcile's not_at_export advice): delivered → fiscalized under the same id, audited;
    a document that is not delivered is refused (409), an unknown key 404."""
    assert _json(capsys, cli_dlq.main, "resend", "sale-2", "--url", url) == {"resent": "sale-2"}
    status = _json(capsys, cli_sync.main, "status", "--url", url)
    assert isinstance(status, dict)
    assert (status["counts"]["fiscalized"], status["counts"].get("delivered", 0)) == (1, 0)
    assert "export resend" in _audit_reasons(tmp_path / "buffer.db")
    assert cli_dlq.main(["resend", "sale-2", "--url", url]) == 1
    assert "409" in capsys.readouterr().err
    assert cli_dlq.main(["resend", "nope", "--url", url]) == 1
    assert "404" in capsys.readouterr().err
