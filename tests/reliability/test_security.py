"""Security of the running daemon: loopback bind, admin guard and audit, no token leaks, body limit, tamper-evidence.

Every test runs ``kkt-adapter run`` as a subprocess (real uvicorn on 127.0.0.1) and reads its log and its
database file from the outside, as an attacker or an auditor would.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from daemon_harness import Daemon, make_receipt
from reliability_support import assert_error_shape, chain, read_only, row_counts

from kkt_adapter.buffer.events import verify_chain
from kkt_adapter.config.settings import Settings

ADMIN_TOKEN = "adm-Zq8vN3kP0sLw7RtY2uXe"
POS_TOKEN = "pos-Hb5mC1jQ9dFg4TnV6yWa"
ADMIN_ROUTE = "/v1/admin/devices/kkt1/x-report"
StartDaemon = Callable[..., Daemon]
TOKENS_ENV = {"KKT_ADAPTER_ADMIN_TOKEN": ADMIN_TOKEN, "KKT_ADAPTER_POS_TOKEN": POS_TOKEN}


def audit_rows(db_path: Path) -> list[tuple[str, str, dict[str, object]]]:
    """(actor, reason, detail) of every audit event, oldest first."""
    with read_only(db_path) as conn:
        rows = conn.execute("SELECT actor, reason, detail FROM events WHERE kind = 'audit' ORDER BY seq").fetchall()
    return [(actor, reason, json.loads(detail)) for actor, reason, detail in rows]


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses (hex, as in /proc/net/tcp) with a socket listening on ``port``."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(address)
    return found


def test_the_default_bind_address_is_loopback(daemon: Daemon) -> None:
    """The built-in default host is 127.0.0.1 and the running daemon listens only there."""
    assert Settings().api.host == "127.0.0.1"
    assert listening_addresses(daemon.port) == {"0100007F"}  # 127.0.0.1, little-endian hex


def test_admin_routes_refuse_missing_and_wrong_tokens_and_audit_it(start_daemon: StartDaemon) -> None:
    """No token → 401, a wrong one → 403, both in the error shape, each refusal an audit event with the path."""
    daemon = start_daemon(env=TOKENS_ENV)
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        missing = client.post(ADMIN_ROUTE)
        wrong = client.post(ADMIN_ROUTE, headers={"Authorization": "Bearer not-the-token"})
        basic = client.post(ADMIN_ROUTE, headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
    assert missing.status_code == 401
    assert assert_error_shape(missing)["error"] == "unauthorized"
    assert wrong.status_code == 403
    assert assert_error_shape(wrong)["error"] == "forbidden"
    assert basic.status_code == 401
    refusals = [row for row in audit_rows(daemon.db_path) if row[2].get("path") == ADMIN_ROUTE]
    assert [row[2]["status"] for row in refusals] == [401, 403, 401]
    assert all(actor == "anonymous" for actor, _, _ in refusals)
    assert chain(daemon.db_path).ok


def test_tokens_never_appear_in_logs_answers_or_the_page(start_daemon: StartDaemon) -> None:
    """Right and wrong tokens, intake, errors, the page, health and metrics: no answer or log line holds a token."""
    daemon = start_daemon(env=TOKENS_ENV)
    seen: list[str] = []
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        pos = {"Authorization": f"Bearer {POS_TOKEN}"}
        for response in (
            client.post("/v1/receipts", json=make_receipt(), headers={**pos, "Idempotency-Key": "sec-1"}),
            client.post("/v1/receipts", json={"bad": 1}, headers={**pos, "Idempotency-Key": "sec-2"}),
            client.post("/v1/receipts", json=make_receipt(), headers={"Authorization": f"Bearer {ADMIN_TOKEN}x"}),
            client.get("/v1/receipts/sec-1", headers=pos),
            client.post(ADMIN_ROUTE, headers={"Authorization": f"Bearer {POS_TOKEN}"}),
            client.post(ADMIN_ROUTE, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}),
            client.get("/"),
            client.get("/v1/health"),
            client.get("/metrics"),
            client.get("/openapi.json"),
        ):
            seen.append(f"{response.status_code} {dict(response.headers)} {response.text}")
    daemon.stop()
    logs = daemon.log_text()
    assert "sec-1" in "".join(seen)  # the answers were captured
    for token in (ADMIN_TOKEN, POS_TOKEN):
        assert token not in logs
        assert all(token not in answer for answer in seen)
        with read_only(daemon.db_path) as conn:
            assert not any(token in str(row) for row in conn.execute("SELECT * FROM events"))


def test_a_body_over_the_limit_is_413_and_writes_nothing(daemon: Daemon) -> None:
    """With the default 256 KB limit a 10,000-line receipt answers 413 in the error shape; nothing is stored."""
    before = row_counts(daemon.db_path)
    lines = [{"name": "Хлеб", "price_kop": 5_990, "quantity": "2", "amount_kop": 11_980, "vat": "vat10"}] * 10_000
    body = make_receipt(items=lines, total_kop=11_980 * 10_000)
    response = httpx.post(f"{daemon.base_url}/v1/receipts", json=body, headers={"Idempotency-Key": "huge"}, timeout=30)
    assert response.status_code == 413
    assert assert_error_shape(response)["error"] == "body_too_large"
    assert row_counts(daemon.db_path) == before


def test_an_edited_audit_row_is_named_by_the_chain_check(start_daemon: StartDaemon) -> None:
    """Editing one event row with sqlite3 makes verify_chain (and ``kkt-adapter audit verify``) name that row."""
    daemon = start_daemon(env=TOKENS_ENV)
    for n in range(3):
        httpx.post(
            f"{daemon.base_url}/v1/receipts",
            json=make_receipt(),
            headers={"Idempotency-Key": f"t-{n}", "Authorization": f"Bearer {POS_TOKEN}"},
            timeout=30,
        )
        httpx.post(f"{daemon.base_url}{ADMIN_ROUTE}", timeout=30)
    daemon.stop()
    assert chain(daemon.db_path).ok
    conn = sqlite3.connect(daemon.db_path)
    try:
        target = conn.execute("SELECT seq FROM events WHERE kind = 'audit' ORDER BY seq LIMIT 1 OFFSET 1").fetchone()[0]
        conn.execute("UPDATE events SET actor = 'admin' WHERE seq = ?", (target,))
        conn.commit()
        verdict = verify_chain(conn)
    finally:
        conn.close()
    assert (verdict.ok, verdict.broken_seq) == (False, target)
    cli = subprocess.run(
        [sys.executable, "-m", "kkt_adapter", "audit", "verify", "--db", str(daemon.db_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 1, cli
    assert f"event {target}" in cli.stdout + cli.stderr, cli
