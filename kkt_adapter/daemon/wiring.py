"""Assemble the daemon: open the buffer, start the workers, build :class:`Services`, stop in order."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from kkt_adapter.api.app import create_app
from kkt_adapter.api.deps import Services
from kkt_adapter.buffer.store import Store
from kkt_adapter.config.secrets import load_secret
from kkt_adapter.config.settings import Settings

log = logging.getLogger("kkt_adapter.daemon")


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_app(settings: Settings) -> FastAPI:
    """The daemon's FastAPI app; its lifespan opens the buffer and starts the components."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(
            settings.buffer.path,
            capacity=settings.buffer.capacity,
            busy_timeout_ms=settings.buffer.busy_timeout_ms,
            group_max=settings.buffer.group_commit_max,
            min_free_bytes=settings.buffer.min_free_bytes,
        )
        services = Services(
            settings=settings,
            store=store,
            clock=utc_now,
            pos_token=load_secret("KKT_ADAPTER_POS_TOKEN", settings.api.pos_token_file),
            admin_token=load_secret("KKT_ADAPTER_ADMIN_TOKEN", settings.api.admin_token_file),
        )
        app.state.services = services
        log.info("buffer open at %s (%d receipts pending)", settings.buffer.path, store.pending)
        try:
            yield
        finally:
            await store.close()
            log.info("buffer closed")

    return create_app(settings.api.max_body_bytes, lifespan=lifespan)
