"""Wiring for the daemon (and the drain tool): one export client, one worker, one task.

Usage in the daemon's lifespan::

    sync = await SyncService.start(store, settings.export, settings.sync, export_token)
    services.sync = sync.worker          # the admin routes read it
    …                                    # call sync.worker.wake() when a receipt is fiscalized
    await sync.stop()
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from kkt_adapter.clock import utc_now
from kkt_adapter.config.secrets import EXPORT_TOKEN_ENV
from kkt_adapter.config.settings import ExportSettings, SyncSettings
from kkt_adapter.export.client import ExportClient, ExportClientConfig
from kkt_adapter.export.contract import ExportDocument
from kkt_adapter.export.outcome import AuthRefused, Delivered, Outcome, Permanent, RetryLater
from kkt_adapter.sync.config import SyncConfig
from kkt_adapter.sync.credentials import TokenFile
from kkt_adapter.sync.loop import stop_loop
from kkt_adapter.sync.ports import SyncStore
from kkt_adapter.sync.worker import SyncWorker

STOP_TIMEOUT_S = 15.0


@dataclass
class SyncService:
    """A running sync loop and the client it owns."""

    worker: SyncWorker
    client: ExportClient
    task: asyncio.Task[None]

    @classmethod
    async def start(
        cls,
        store: SyncStore,
        export: ExportSettings,
        sync: SyncSettings,
        token: str | None,
        *,
        now: Callable[[], datetime] = utc_now,
        on_outcome: Callable[[str], None] | None = None,
        on_breaker_change: Callable[[str, str], None] | None = None,
    ) -> SyncService:
        """Start the loop from the ``export`` and ``sync`` settings sections; returns at once. ``now``: the
        wall clock of its decisions and of the writes they make (the daemon gives the buffer's).

        ``on_outcome(kind)`` is called after every export call with ``delivered``, ``retry`` or ``permanent``.
        """
        config = SyncConfig.from_settings(sync)
        client = ExportClient(ExportClientConfig.from_settings(export, token, max_connections=config.concurrency))
        submit: Callable[[ExportDocument], Awaitable[Outcome]] = client.submit
        if on_outcome is not None:
            submit = _counting(client.submit, on_outcome)
        from_env = bool(os.environ.get(EXPORT_TOKEN_ENV))
        credentials = TokenFile(None if from_env else export.token_file, EXPORT_TOKEN_ENV, client.set_token)
        worker = SyncWorker(
            store, submit, config, now=now, on_breaker_change=on_breaker_change, credentials=credentials
        )
        task = asyncio.create_task(worker.run(), name="export-sync")
        return cls(worker, client, task)

    async def stop(self) -> None:
        """Finish the current round (bounded by ``STOP_TIMEOUT_S``, then cancel) and close the client."""
        await stop_loop(self.worker, self.task, STOP_TIMEOUT_S)
        await self.client.aclose()


_KINDS = {Delivered: "delivered", RetryLater: "retry", Permanent: "permanent", AuthRefused: "auth_refused"}


def _counting(
    submit: Callable[[ExportDocument], Awaitable[Outcome]], on_outcome: Callable[[str], None]
) -> Callable[[ExportDocument], Awaitable[Outcome]]:
    """Wrap ``submit`` so every outcome is reported by kind (for metrics)."""

    async def counted(doc: ExportDocument) -> Outcome:
        outcome = await submit(doc)
        on_outcome(_KINDS[type(outcome)])
        return outcome

    return counted
