"""Local attackers: unauthenticated refusals cannot fill the disk; a web page in the POS box's browser cannot
post receipts through a rebinding name or a cross-origin form. A real daemon on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from daemon_harness import Daemon, make_receipt
from reliability_support import assert_error_shape, read_only, row_counts
from test_security import ADMIN_ROUTE, ADMIN_TOKEN, audit_rows

from kkt_adapter.api.origin import cross_origin_refusal
from kkt_adapter.api.refusals import AGGREGATED, RefusalLog

StartDaemon = Callable[..., Daemon]
REFUSALS = 200
T0 = datetime(2026, 11, 30, 12, 0, 5, tzinfo=UTC)


def test_refusals_beyond_the_first_few_a_minute_are_counted_not_written() -> None:
    """100 refusals of one source in a minute: 5 verbatim; the next minute writes one row counting the 95."""
    log = RefusalLog(verbatim=5)
    written = [log.decide("127.0.0.1", T0 + timedelta(seconds=i * 0.5), "/v1/admin/x")[0] for i in range(100)]
    assert written.count(True) == 5
    write, due = log.decide("127.0.0.1", T0 + timedelta(minutes=1), "/v1/admin/x")
    assert write
    assert [(row["not_logged"], row["logged"], row["minute"]) for row in due] == [(95, 5, "2026-11-30T12:00")]


def test_unauthenticated_admin_calls_cannot_fill_the_disk(start_daemon: StartDaemon) -> None:
    """200 refused admin calls in a burst write a handful of audit rows, not 200 (each one fsync'd); the rest
    are counted in one aggregated row, written at the latest when the daemon stops."""
    daemon = start_daemon(env={"KKT_ADAPTER_ADMIN_TOKEN": ADMIN_TOKEN})
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        guess = {"Authorization": "Bearer guess"}
        statuses = {client.post(ADMIN_ROUTE, headers=guess).status_code for _ in range(REFUSALS)}
    assert statuses == {403}
    running = [row for row in audit_rows(daemon.db_path) if row[1].startswith("admin access refused")]
    daemon.stop()
    rows = [row for row in audit_rows(daemon.db_path) if row[1].startswith("admin access refused")]
    verbatim = [row for row in rows if row[1] == "admin access refused"]
    counted = sum(int(str(row[2]["not_logged"])) for row in rows if row[1] == AGGREGATED)
    assert 1 <= len(running) <= 10
    assert len(verbatim) + counted == REFUSALS
    assert len(rows) <= 10


def test_a_rebinding_host_name_is_refused(daemon: Daemon) -> None:
    """A receipt posted with ``Host: pos-shop.attacker.example`` (DNS rebinding) answers 400; nothing is stored."""
    before = row_counts(daemon.db_path)
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        response = client.post(
            "/v1/receipts",
            json=make_receipt(),
            headers={"Host": f"pos-shop.attacker.example:{daemon.port}", "Idempotency-Key": "rebind-1"},
        )
        fine = client.get("/health/live")
    assert response.status_code == 400
    assert fine.status_code == 200
    assert row_counts(daemon.db_path) == before


def test_a_cross_origin_browser_post_is_refused(daemon: Daemon) -> None:
    """A form posted from another site's page (Origin / Sec-Fetch-Site) answers 403 ``cross_origin``; nothing stored."""
    before = row_counts(daemon.db_path)
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        by_origin = client.post(
            "/v1/receipts",
            json=make_receipt(),
            headers={"Origin": "http://attacker.example", "Idempotency-Key": "xo-1"},
        )
        by_fetch_site = client.post(
            "/v1/receipts",
            json=make_receipt(),
            headers={"Sec-Fetch-Site": "cross-site", "Idempotency-Key": "xo-2"},
        )
    assert assert_error_shape(by_origin)["error"] == "cross_origin"
    assert by_origin.status_code == 403
    assert by_fetch_site.status_code == 403
    assert row_counts(daemon.db_path) == before


def test_the_pages_own_origin_and_pos_programs_may_post(daemon: Daemon) -> None:
    """Same-origin browser posts and plain POS programs (no Origin) are accepted."""
    with httpx.Client(base_url=daemon.base_url, timeout=30) as client:
        same = client.post(
            "/v1/receipts",
            json=make_receipt(),
            headers={"Origin": f"http://127.0.0.1:{daemon.port}", "Idempotency-Key": "same-1"},
        )
        pos = client.post("/v1/receipts", json=make_receipt(), headers={"Idempotency-Key": "pos-1"})
    assert (same.status_code, pos.status_code) == (202, 202)
    with read_only(daemon.db_path) as conn:
        assert conn.execute("SELECT count(*) FROM receipts WHERE key IN ('same-1', 'pos-1')").fetchone()[0] == 2


def test_reads_are_never_refused_for_their_origin() -> None:
    """GET/HEAD/OPTIONS change nothing: the origin check leaves them alone (pure)."""
    assert cross_origin_refusal("GET", "http://attacker.example", "cross-site", ["127.0.0.1"]) is None
    assert cross_origin_refusal("POST", "http://attacker.example", None, ["127.0.0.1"]) is not None
