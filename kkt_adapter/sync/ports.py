"""What the sync worker needs from the buffer (``kkt_adapter.buffer.store.Store`` implements it)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from kkt_adapter.buffer.records import StoredReceipt

PAUSE_SETTING = "sync.paused"


class SyncStore(Protocol):
    """The buffer's sync operations; each write is atomic and resolves after its commit."""

    async def claim_for_sync(
        self, limit: int, lease_s: float, now: datetime, max_wait_s: float | None = None
    ) -> list[StoredReceipt]:
        """Lease up to ``limit`` due ``fiscalized`` documents, oldest first."""
        ...

    async def mark_delivered(self, key: str, ticket: str, now: datetime) -> None:
        """fiscalized → delivered with the export endpoint ticket (idempotent)."""
        ...

    async def mark_delivered_many(self, tickets: list[tuple[str, str]], now: datetime) -> list[str]:
        """Each ``(key, ticket)`` fiscalized → delivered in one atomic operation (idempotent per key);
        returns the keys skipped because they are missing or not ``fiscalized``."""
        ...

    async def schedule_retry(
        self, key: str, next_attempt_at: datetime, error: str, response: str | None, now: datetime
    ) -> None:
        """Count a failed attempt, set the next attempt time, release the lease."""
        ...

    async def mark_dead(self, key: str, reason: str, response: str | None, now: datetime) -> None:
        """fiscalized → dead with the reason and the last response."""
        ...

    async def release_leases(self, keys: list[str]) -> None:
        """End the leases of ``keys`` now (documents kept back by a pause, not by their own failure)."""
        ...

    async def next_sync_due(self) -> datetime | None:
        """When the earliest fiscalized document becomes claimable (retry time or lease end); None if none."""
        ...

    async def get_setting(self, name: str) -> str | None:
        """A persisted setting."""
        ...

    async def set_setting(self, name: str, value: str, actor: str) -> None:
        """Persist a setting (audited)."""
        ...
