"""The FastAPI application: routers, the error shape, the guards, the body-size limit, the intake's fast way in."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import Receive, Scope, Send

from kkt_adapter import __version__
from kkt_adapter.api import routes_health, routes_receipts
from kkt_adapter.api.errors import install_handlers
from kkt_adapter.api.intake_route import IntakeFront
from kkt_adapter.api.limits import BodySizeLimit
from kkt_adapter.api.origin import LOOPBACK_HOSTS, CrossOriginGuard

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class AdapterApp(FastAPI):
    """FastAPI with the receipt intake's fast way in (:class:`IntakeFront`) ahead of its whole stack."""

    front: IntakeFront | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None and self.front.takes(scope):
            handed_on = await self.front.serve(scope, receive, send)
            if handed_on is None:
                return
            receive = handed_on
        await super().__call__(scope, receive, send)


def create_app(
    max_body_bytes: int,
    lifespan: Lifespan | None = None,
    extra_routers: list[APIRouter] | None = None,
    hosts: list[str] | None = None,
) -> FastAPI:
    """Build the app; ``app.state.services`` must be set (by ``lifespan`` or a test) before requests.

    ``hosts``: the names the ``Host`` header may carry (default: loopback names); see :mod:`.origin`.
    """
    app = AdapterApp(
        title="kkt-adapter",
        version=__version__,
        description="Offline-first fiscal device adapter: durable receipt intake, fiscalization, OFD sync.",
        lifespan=lifespan,
    )
    install_handlers(app)
    app.include_router(routes_receipts.router)
    app.include_router(routes_health.router)
    for router in extra_routers or []:
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    allowed = list(hosts if hosts is not None else LOOPBACK_HOSTS)
    app.add_middleware(CrossOriginGuard, hosts=allowed)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed, www_redirect=False)
    app.front = IntakeFront(app.state, allowed, max_body_bytes)
    return app
