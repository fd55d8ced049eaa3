"""The FastAPI application: routers, the error shape, the body-size limit."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware

from kkt_adapter import __version__
from kkt_adapter.api import routes_health, routes_receipts
from kkt_adapter.api.errors import install_handlers
from kkt_adapter.api.intake_route import fast_intake_route
from kkt_adapter.api.limits import BodySizeLimit
from kkt_adapter.api.origin import LOOPBACK_HOSTS, CrossOriginGuard

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    max_body_bytes: int,
    lifespan: Lifespan | None = None,
    extra_routers: list[APIRouter] | None = None,
    hosts: list[str] | None = None,
) -> FastAPI:
    """Build the app; ``app.state.services`` must be set (by ``lifespan`` or a test) before requests.

    ``hosts``: the names the ``Host`` header may carry (default: loopback names); see :mod:`.origin`.
    """
    app = FastAPI(
        title="kkt-adapter",
        version=__version__,
        description="Offline-first fiscal device adapter: durable receipt intake, fiscalization, OFD sync.",
        lifespan=lifespan,
    )
    install_handlers(app)
    app.include_router(routes_receipts.router)
    app.router.routes.insert(0, fast_intake_route(routes_receipts.router))
    app.include_router(routes_health.router)
    for router in extra_routers or []:
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    allowed = list(hosts if hosts is not None else LOOPBACK_HOSTS)
    app.add_middleware(CrossOriginGuard, hosts=allowed)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed, www_redirect=False)
    return app
