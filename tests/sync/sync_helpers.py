"""Test doubles for the sync worker's pure-logic tests: an in-memory store, clocks, a scripted OFD."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.export.contract import ExportDocument
from kkt_adapter.export.outcome import Delivered, Outcome
from kkt_adapter.export.sim.samples import sample_fiscalized

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


class FakeClock:
    """Wall and monotonic clocks that move only when told to."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def stored(index: int) -> StoredReceipt:
    """Sample fiscalized receipt ``index`` as the buffer would return it."""
    sample = sample_fiscalized(index)
    return StoredReceipt(
        key=f"k{index}",
        seq=index + 1,
        device_id="kkt1",
        state=ReceiptState.FISCALIZED,
        receipt=sample.receipt,
        body_hash="h",
        tax_system=sample.tax_system,
        created_at=T0,
        updated_at=T0,
        print_attempts=1,
        intent_last_fd=index,
        fd_number=sample.fd_number,
        fiscal_sign=int(sample.fiscal_sign),
        fiscal_datetime=sample.fiscal_datetime,
        shift_number=1,
        receipt_number=index + 1,
        fn_serial=sample.fn_serial,
        registration_number=sample.registration_number,
    )


@dataclass
class FakeStore:
    """In-memory implementation of :class:`kkt_adapter.sync.ports.SyncStore` with the same rules."""

    clock: FakeClock
    rows: dict[str, StoredReceipt] = field(default_factory=dict)
    leases: dict[str, datetime] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    claims: list[int] = field(default_factory=list)
    delivered: asyncio.Event = field(default_factory=asyncio.Event)
    delivery_calls: list[int] = field(default_factory=list)

    def add(self, *receipts: StoredReceipt) -> None:
        for receipt in receipts:
            self.rows[receipt.key] = receipt

    def _due(self, row: StoredReceipt, now: datetime) -> bool:
        lease = self.leases.get(row.key)
        return (
            row.state is ReceiptState.FISCALIZED
            and (row.next_attempt_at is None or row.next_attempt_at <= now)
            and (lease is None or lease <= now)
        )

    async def claim_for_sync(
        self, limit: int, lease_s: float, now: datetime, max_wait_s: float | None = None
    ) -> list[StoredReceipt]:
        due = sorted((r for r in self.rows.values() if self._due(r, now)), key=lambda r: r.seq)[:limit]
        for row in due:
            self.leases[row.key] = now + timedelta(seconds=lease_s)
        self.claims.append(len(due))
        return due

    async def release_leases(self, keys: list[str]) -> None:
        for key in keys:
            self.leases.pop(key, None)

    async def mark_delivered(self, key: str, ticket: str, now: datetime) -> None:
        self.leases.pop(key, None)
        self.rows[key] = replace(self.rows[key], state=ReceiptState.DELIVERED, ofd_ticket=ticket)
        self.delivered.set()

    async def mark_delivered_many(self, tickets: list[tuple[str, str]], now: datetime) -> list[str]:
        self.delivery_calls.append(len(tickets))
        skipped: list[str] = []
        for key, ticket in tickets:
            state = self.rows[key].state if key in self.rows else None
            if state is ReceiptState.FISCALIZED:
                await self.mark_delivered(key, ticket, now)
            elif state is not ReceiptState.DELIVERED:
                skipped.append(key)
        return skipped

    async def schedule_retry(
        self, key: str, next_attempt_at: datetime, error: str, response: str | None, now: datetime
    ) -> None:
        self.leases.pop(key, None)
        row = self.rows[key]
        self.rows[key] = replace(
            row,
            sync_attempts=row.sync_attempts + 1,
            next_attempt_at=next_attempt_at,
            last_error=error,
            last_response=response,
        )

    async def mark_dead(self, key: str, reason: str, response: str | None, now: datetime) -> None:
        self.leases.pop(key, None)
        row = self.rows[key]
        self.rows[key] = replace(
            row,
            state=ReceiptState.DEAD,
            dead_reason=reason,
            last_response=response,
            sync_attempts=row.sync_attempts + 1,
        )

    async def next_sync_due(self) -> datetime | None:
        times = [
            max(
                r.next_attempt_at or datetime.min.replace(tzinfo=UTC),
                self.leases.get(r.key, datetime.min.replace(tzinfo=UTC)),
            )
            for r in self.rows.values()
            if r.state is ReceiptState.FISCALIZED
        ]
        return min(times) if times else None

    async def get_setting(self, name: str) -> str | None:
        return self.settings.get(name)

    async def set_setting(self, name: str, value: str, actor: str) -> None:
        self.settings[name] = value

    def in_state(self, state: ReceiptState) -> list[StoredReceipt]:
        return [r for r in self.rows.values() if r.state is state]


@dataclass
class ScriptedOfd:
    """A submit function whose answers come from ``answer(document)``; records calls and concurrency."""

    answer: Callable[[ExportDocument], Outcome] = lambda doc: Delivered(f"T-{doc.id}", 201, "")
    calls: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, document: ExportDocument) -> Outcome:
        self.calls.append(document.id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let the other submissions of the round start
            return self.answer(document)
        finally:
            self.in_flight -= 1


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float, every_s: float = 0.05) -> None:
    """Wait until ``await check()`` is true, polling; fail the test after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        # the conditions live in another process or thread (the simulator, the buffer): nothing to await
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(every_s)
