"""The daemon's app with the pipeline mounted, served by uvicorn in a thread (until the lead's wiring has it)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import uvicorn
from fastapi import FastAPI
from pipeline_rig import fast_driver
from pydantic import SecretStr

from kkt_adapter.api import routes_devices
from kkt_adapter.api.app import create_app
from kkt_adapter.api.deps import Services
from kkt_adapter.buffer.store import Store
from kkt_adapter.clock import utc_now
from kkt_adapter.config.settings import Settings
from kkt_adapter.pipeline.service import DriverFactory, Pipeline

ADMIN_TOKEN = "admin-secret-token"


def build(settings: Settings, driver_factory: DriverFactory = fast_driver) -> FastAPI:
    """Buffer + pipeline + services, as the daemon's wiring assembles them."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(settings.buffer.path, min_free_bytes=0)
        pipeline = Pipeline(settings, store, driver_factory=driver_factory)
        app.state.services = Services(
            settings=settings,
            store=store,
            clock=utc_now,
            admin_token=SecretStr(ADMIN_TOKEN),
            intake_refusal=pipeline.intake_refusal,
            pipeline=pipeline,
        )
        await pipeline.start()
        try:
            yield
        finally:
            await pipeline.stop(graceful=True, timeout_s=10)
            await store.close()

    return create_app(settings.api.max_body_bytes, lifespan=lifespan, extra_routers=[routes_devices.router])


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` (with its lifespan) on a free 127.0.0.1 port; yield the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
