"""Helpers of the buffer tests: receipts, a fiscal record, file snapshots."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from daemon_harness import make_receipt

from kkt_adapter.buffer.records import FiscalRecord
from kkt_adapter.buffer.store import Store
from kkt_adapter.buffer.writer import Tx, Writer
from kkt_adapter.receipts.model import ReceiptIn

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def receipt(variant: int = 0) -> ReceiptIn:
    """A valid receipt; different ``variant`` values give different bodies."""
    items = [{"name": f"Товар {variant}", "price_kop": 100, "quantity": "1", "amount_kop": 100, "vat": "vat10"}]
    return ReceiptIn.model_validate(
        make_receipt(items=items, total_kop=100, payments=[{"type": "cash", "amount_kop": 100}])
    )


def hold_writer(writer: Writer) -> tuple[threading.Event, threading.Event, Future[None]]:
    """Park the writer thread inside an operation until ``release`` is set; ``inside`` is set when parked."""
    inside, release = threading.Event(), threading.Event()

    def blocker(_: Tx) -> None:
        inside.set()
        assert release.wait(timeout=10)

    future = writer.submit(blocker)
    assert inside.wait(timeout=10)
    return inside, release, future


def fiscal(fd_number: int) -> FiscalRecord:
    """What the FN would say about document ``fd_number``."""
    return FiscalRecord(fd_number, 1_000_000 + fd_number, NOW, 1, fd_number, "9999078900001234", "0000000001012345")


@dataclass(frozen=True)
class Snapshot:
    """A directory's files with their bytes and modification times (ns)."""

    files: dict[str, tuple[bytes, int]]


def snapshot(directory: Path) -> Snapshot:
    return Snapshot({p.name: (p.read_bytes(), os.stat(p).st_mtime_ns) for p in sorted(directory.iterdir())})


class Clock:
    """A settable wall clock."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def run_store(path: Path, scenario: Callable[[Store, Clock], Awaitable[None]]) -> None:
    """Open a store at ``path`` with a settable clock, run ``scenario``, close it."""

    async def main() -> None:
        clock = Clock()
        store = await Store.open(path, clock=clock)
        try:
            await scenario(store, clock)
        finally:
            await store.close()

    asyncio.run(main())
