"""Reading the three sides of a reconciliation: the FN (through the daemon), the buffer file, the HQ export
endpoint (the optional export, ``docs/export-api.md``; the OFD itself answers no such question).

- **FN**: the daemon owns the serial port, so the FN archive is read through its admin route
  ``GET /v1/admin/devices/{id}/fn-documents`` (run on the device's worker between receipts, audited), in
  pages, backwards from the last document until the scope's window is found.
- **Buffer**: read directly from the SQLite file, opened read-only (``mode=ro``), through
  :func:`kkt_adapter.buffer.queries.for_reconcile`. Chosen over a daemon route because it adds no API
  surface, is the pattern of ``kkt-adapter audit verify``, works while the daemon is down, and a WAL reader
  never blocks the daemon's writer. The command therefore runs on the box, as a user who may read the file.
- **Export endpoint**: ``GET /v1/documents/{id}`` for every id of the window (200 → held, 404 → not held;
  anything else stops the run: the endpoint could not be asked).

Order matters for a consistent picture while receipts flow: FN first (every FN document up to its last
FD then has its buffer row committed, since the worker records a receipt before it reads the FN), then
the buffer (rows with an FD beyond that last FD are left out: fiscalized after the FN was read), then the
export endpoint (a ``delivered`` row was confirmed by it before it was read, so it must hold it).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from kkt_adapter.buffer import queries
from kkt_adapter.buffer.db import connect
from kkt_adapter.buffer.errors import StoreError
from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.errors import AdapterError
from kkt_adapter.export.client import ExportClient, ExportClientConfig
from kkt_adapter.export.outcome import Delivered, Permanent
from kkt_adapter.kkt.types import FnDocument
from kkt_adapter.ops.reconcile import BufferEntry
from kkt_adapter.ops.reconcile_scope import Scope, ScopeNotFound, Window, locate

DAEMON_TIMEOUT_S = 130.0  # the daemon gives a device action up to 120 s
EXPORT_CONCURRENCY = 8


class SourceError(AdapterError):
    """A source could not be read; the message is for a person."""


@dataclass(frozen=True)
class FnSide:
    """What the FN said: its serial and last FD, the window, its documents and the FDs it refused."""

    fn_serial: str
    last_fd: int
    window: Window
    documents: tuple[FnDocument, ...]
    missing: tuple[int, ...]


def document_from_json(data: dict[str, Any]) -> FnDocument:
    """An FN document as the fn-documents route returns it."""
    return FnDocument(
        doc_type=int(data["doc_type"]),
        ticket_received=bool(data["ticket_received"]),
        fd_number=int(data["fd_number"]),
        fiscal_sign=int(data["fiscal_sign"]),
        doc_datetime=datetime.fromisoformat(data["doc_datetime"]),
        operation=data["operation"],
        sum_kop=data["sum_kop"],
        shift_number=data["shift_number"],
    )


class DaemonFn:
    """The FN of one device, through the daemon's admin API (``client`` carries the URL and admin token)."""

    def __init__(self, client: httpx.Client, device_id: str) -> None:
        self.client = client
        self.device_id = device_id

    def page(self, from_fd: int, to_fd: int) -> dict[str, Any]:
        """One call of the fn-documents route; :class:`SourceError` if the daemon cannot be asked or refuses."""
        path = f"/v1/admin/devices/{self.device_id}/fn-documents"
        try:
            answer = self.client.get(path, params={"from_fd": from_fd, "to_fd": to_fd}, timeout=DAEMON_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach the daemon at {self.client.base_url}: {exc}") from exc
        if answer.status_code >= 400:
            try:
                message = answer.json().get("message", answer.text)
            except ValueError:
                message = answer.text
            raise SourceError(f"the daemon refused to read the FN ({answer.status_code}): {message}")
        result: dict[str, Any] = answer.json()
        return result


def read_fn(fn: DaemonFn, scope: Scope, page_size: int, max_documents: int) -> FnSide:
    """Read the FN backwards in pages of ``page_size`` until ``scope``'s window is found (at most
    ``max_documents`` documents, else :class:`SourceError`); :class:`ScopeNotFound` if there is no such shift."""
    probe = fn.page(1, 1)
    serial, last = str(probe["fn_serial"]), int(probe["last_fd_number"])
    documents: list[FnDocument] = []
    missing: list[int] = []
    low = last + 1
    while True:
        if low > 1:
            if last - low + 1 >= max_documents:
                raise SourceError(f"{scope.describe()} is not within the last {max_documents} FN documents")
            start = max(1, low - page_size)
            answer = fn.page(start, low - 1)
            documents = [document_from_json(d) for d in answer["documents"]] + documents
            missing = [int(n) for n in answer["missing"]] + missing
            low = start
        window = locate(scope, documents, last, from_start=low <= 1)
        if window is not None:
            break
        if low <= 1:
            raise ScopeNotFound(f"{scope.describe()}: not found on the FN")
    inside = tuple(d for d in documents if window.holds(d.fd_number))
    return FnSide(serial, last, window, inside, tuple(n for n in missing if window.holds(n)))


def entry(row: StoredReceipt) -> BufferEntry:
    """The fields of a stored receipt reconciliation compares."""
    return BufferEntry(
        key=row.key,
        state=row.state,
        operation=row.receipt.operation.tag_1054,
        total_kop=row.receipt.total_kop,
        fd_number=row.fd_number,
        fiscal_sign=row.fiscal_sign,
        shift_number=row.shift_number,
        fn_serial=row.fn_serial,
    )


def read_buffer(db: Path, device_id: str, fn: FnSide) -> list[BufferEntry]:
    """The buffer's receipts for ``fn``'s window, read from ``db`` opened read-only."""
    if not db.is_file():
        raise SourceError(f"no buffer database at {db}")
    try:
        conn = connect(db, readonly=True)
    except (sqlite3.Error, StoreError) as exc:
        raise SourceError(f"cannot open {db} read-only: {exc}") from exc
    try:
        window = fn.window
        rows = queries.for_reconcile(
            conn, device_id, fn.fn_serial, (window.fd_from, window.fd_to), window.shifts, fn.last_fd
        )
    except (sqlite3.Error, StoreError) as exc:
        raise SourceError(f"cannot read {db}: {exc}") from exc
    finally:
        conn.close()
    return [entry(row) for row in rows]


async def _ask(client: ExportClient, doc_id: str, gate: asyncio.Semaphore) -> tuple[str, bool]:
    async with gate:
        outcome = await client.fetch_ticket(doc_id)
    if isinstance(outcome, Delivered):
        return doc_id, True
    if isinstance(outcome, Permanent) and outcome.status == 404:
        return doc_id, False
    raise SourceError(
        f"cannot ask the HQ export endpoint about {doc_id}: {outcome.reason} (use --skip-export to leave it out)"
    )


async def _ask_all(config: ExportClientConfig, ids: Sequence[str]) -> dict[str, bool]:
    gate = asyncio.Semaphore(EXPORT_CONCURRENCY)
    async with ExportClient(config) as client:
        answers = await asyncio.gather(*(_ask(client, doc_id, gate) for doc_id in ids))
    return dict(answers)


def read_export(config: ExportClientConfig, ids: Sequence[str]) -> dict[str, bool]:
    """Whether the HQ export endpoint holds each of ``ids``; :class:`SourceError` if it cannot be asked."""
    return asyncio.run(_ask_all(config, ids))
