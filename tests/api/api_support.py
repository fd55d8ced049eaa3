"""A real uvicorn server on 127.0.0.1 (in a thread) serving the intake API over a buffer in tmp_path."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from daemon_harness import wait_until
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr

from kkt_adapter.api.app import create_app
from kkt_adapter.api.deps import Services
from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import ApiSettings, BufferSettings, Settings


@dataclass
class ApiServer:
    """Where the server listens and what it serves."""

    base_url: str
    db_path: Path
    settings: Settings


def fixed_clock() -> datetime:
    return datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@contextlib.contextmanager
def serve_api(
    tmp_path: Path,
    capacity: int = 1000,
    max_body_bytes: int = 64 * 1024,
    pos_token: str | None = None,
    clock: Callable[[], datetime] = fixed_clock,
    admin_token: str | None = None,
    extra_routers: list[APIRouter] | None = None,
) -> Iterator[ApiServer]:
    """Run the intake app (buffer opened by its lifespan) under uvicorn until the block ends; with
    ``extra_routers`` (admin routes) and their ``admin_token`` when given."""
    db_path = tmp_path / "data" / "b.db"
    settings = Settings(
        api=ApiSettings(max_body_bytes=max_body_bytes, max_items=20),
        buffer=BufferSettings(path=db_path, capacity=capacity),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await Store.open(db_path, capacity=capacity, clock=clock)
        token = SecretStr(pos_token) if pos_token else None
        admin = SecretStr(admin_token) if admin_token else None
        app.state.services = Services(settings=settings, store=store, clock=clock, pos_token=token, admin_token=admin)
        try:
            yield
        finally:
            await store.close()

    app = create_app(max_body_bytes, lifespan=lifespan, extra_routers=extra_routers)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), 10, "uvicorn to start")
        assert server.started, "uvicorn did not start"
        yield ApiServer(f"http://127.0.0.1:{port}", db_path, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
