"""Finding a reconciliation's window of FN documents (whole shifts), and reading the FN backwards for it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from kkt_adapter.kkt.types import FnDocument
from kkt_adapter.ops.reconcile_scope import Scope, ScopeNotFound, Window, locate
from kkt_adapter.ops.reconcile_sources import DaemonFn, SourceError, read_fn

T0 = datetime(2026, 1, 15, 9, 0)


def at(fd: int, doc_type: int, shift: int | None = None, when: datetime | None = None) -> FnDocument:
    return FnDocument(doc_type, False, fd, 7000 + fd, when or T0 + timedelta(hours=fd), None, None, shift)


def receipt(fd: int) -> FnDocument:
    return FnDocument(3, False, fd, 7000 + fd, T0 + timedelta(hours=fd), 1, 100, None)


# FD 1 registration, shift 1 = FD 2..4 (closed), shift 2 = FD 5..7 (open); one hour between documents.
ARCHIVE = [at(1, 1), at(2, 2, 1), receipt(3), at(4, 5, 1), at(5, 2, 2), receipt(6), receipt(7)]


def test_by_default_the_window_is_the_last_shift_up_to_the_last_document() -> None:
    """No --shift/--since: the FN's last shift, from its open report to the last document."""
    assert locate(Scope(), ARCHIVE, 7, from_start=True) == Window(5, 7, (2,))


def test_a_closed_shift_ends_at_its_close_report() -> None:
    """A shift that was closed spans its open report to its close report."""
    assert locate(Scope(shift=1), ARCHIVE, 7, from_start=True) == Window(2, 4, (1,))
    assert locate(Scope(), [*ARCHIVE, at(8, 5, 2)], 8, from_start=True) == Window(5, 8, (2,))


def test_more_documents_are_needed_until_the_shift_open_is_seen() -> None:
    """Documents that do not reach back to the shift's open report give None (read further back)."""
    assert locate(Scope(), ARCHIVE[5:], 7, from_start=False) is None
    assert locate(Scope(shift=1), ARCHIVE[3:], 7, from_start=False) is None


def test_a_shift_the_fn_does_not_have_is_refused() -> None:
    """An older shift's report seen before shift N's open, or the whole FN read: ScopeNotFound."""
    with pytest.raises(ScopeNotFound, match="shift 9 is not on the FN"):
        locate(Scope(shift=9), ARCHIVE[3:], 7, from_start=False)
    with pytest.raises(ScopeNotFound, match="shift 3"):
        locate(Scope(shift=3), ARCHIVE, 7, from_start=True)


def test_since_takes_the_shift_open_at_that_moment() -> None:
    """--since inside shift 1 (FD 2 at +2 h, closed at +4 h) covers shifts 1 and 2 whole."""
    assert locate(Scope(since=T0 + timedelta(hours=3)), ARCHIVE, 7, from_start=True) == Window(2, 7, (1, 2))


def test_since_after_a_shift_closed_starts_at_the_next_shift() -> None:
    """A shift closed before --since is left out; the window starts at the next open report."""
    since = T0 + timedelta(hours=4, minutes=30)
    assert locate(Scope(since=since), ARCHIVE, 7, from_start=True) == Window(5, 7, (2,))


def test_since_after_the_last_shift_closed_is_an_empty_window() -> None:
    """Nothing was open at or after --since: an empty window past the last document."""
    archive = [*ARCHIVE, at(8, 5, 2)]
    window = locate(Scope(since=T0 + timedelta(hours=9)), archive, 8, from_start=True)
    assert window == Window(9, 8, ())
    assert not window.holds(8)


def test_since_before_every_document_takes_the_whole_fn() -> None:
    """--since before the first shift: from FD 1, every shift; with part of the FN read, read further back."""
    assert locate(Scope(since=T0), ARCHIVE, 7, from_start=True) == Window(1, 7, (1, 2))
    assert locate(Scope(since=T0), ARCHIVE[4:], 7, from_start=False) is None


def test_an_fn_without_documents_has_an_empty_last_shift_and_no_numbered_one() -> None:
    """A fresh FN (last FD 0): the default window is empty; a named shift is not found."""
    assert locate(Scope(), [], 0, from_start=True) == Window(1, 0, ())
    with pytest.raises(ScopeNotFound):
        locate(Scope(shift=1), [], 0, from_start=True)


# --- reading the FN backwards through the daemon's route (httpx.MockTransport stands in for it) --------


def archive_route(
    last_fd: int, shift_open_at: int, refused: frozenset[int] = frozenset()
) -> tuple[DaemonFn, list[tuple[int, int]]]:
    """A daemon whose FN holds receipts 1..last_fd with one shift opened at ``shift_open_at``; records calls."""
    calls: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        low, high = int(request.url.params["from_fd"]), int(request.url.params["to_fd"])
        calls.append((low, high))
        docs: list[dict[str, Any]] = []
        for fd in range(low, min(high, last_fd) + 1):
            if fd in refused:
                continue
            kind, shift = (2, 1) if fd == shift_open_at else (3, None)
            docs.append(
                {"fd_number": fd, "doc_type": kind, "fiscal_sign": fd, "doc_datetime": "2026-01-15T09:00:00",
                 "operation": 1 if kind == 3 else None, "sum_kop": 100 if kind == 3 else None,
                 "shift_number": shift, "ticket_received": False}
            )  # fmt: skip
        missing = [fd for fd in range(low, min(high, last_fd) + 1) if fd in refused]
        body = {"fn_serial": "9999078900012345", "last_fd_number": last_fd, "documents": docs, "missing": missing}
        return httpx.Response(200, json=body)

    client = httpx.Client(base_url="http://daemon", transport=httpx.MockTransport(handler))
    return DaemonFn(client, "kkt1"), calls


def test_read_fn_pages_backwards_until_the_shift_open() -> None:
    """One probe, then pages of the given size from the last FD back until the window is known."""
    fn, calls = archive_route(1200, shift_open_at=300)
    side = read_fn(fn, Scope(), page_size=500, max_documents=5000)
    assert calls == [(1, 1), (701, 1200), (201, 700)]
    assert side.window == Window(300, 1200, (1,))
    assert [d.fd_number for d in side.documents] == list(range(300, 1201))
    assert side.fn_serial == "9999078900012345"


def test_read_fn_reports_the_refused_numbers_of_the_window() -> None:
    """FDs the FN refused inside the window come back as ``missing``; those outside it are dropped."""
    fn, _ = archive_route(50, shift_open_at=20, refused=frozenset({5, 30}))
    side = read_fn(fn, Scope(), page_size=100, max_documents=5000)
    assert side.missing == (30,)


def test_read_fn_stops_at_the_document_limit() -> None:
    """A window further back than ``max_documents``: SourceError instead of reading the whole FN."""
    fn, calls = archive_route(3000, shift_open_at=10)
    with pytest.raises(SourceError, match="not within the last 1000 FN documents"):
        read_fn(fn, Scope(), page_size=500, max_documents=1000)
    assert len(calls) == 3


def test_read_fn_names_the_daemon_refusal() -> None:
    """A 4xx from the daemon (e.g. a wrong token) is a SourceError carrying its message."""
    body = {"error": "forbidden", "message": "The admin token is not accepted.", "details": []}
    transport = httpx.MockTransport(lambda _request: httpx.Response(403, json=body))
    fn = DaemonFn(httpx.Client(base_url="http://daemon", transport=transport), "kkt1")
    with pytest.raises(SourceError, match=r"\(403\): The admin token is not accepted"):
        read_fn(fn, Scope(), page_size=10, max_documents=100)
