"""What the routes need from the running daemon (:class:`Services`) and the token checks.

POS routes require the POS token only when one is configured; admin routes always require the admin
token (no token configured → every admin call is refused). A missing token answers 401, a wrong one
403, and admin refusals are written to the audit log, rate-limited (:mod:`kkt_adapter.api.refusals`).
Tokens are compared in constant time and never echoed.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fastapi import Request
from pydantic import SecretStr

from kkt_adapter.api.errors import ApiError
from kkt_adapter.api.refusals import RefusalLog
from kkt_adapter.buffer.store import Store
from kkt_adapter.config.settings import Settings
from kkt_adapter.pipeline.service import Pipeline


class SyncControl(Protocol):
    """What the admin routes need from the OFD sync loop (:class:`kkt_adapter.sync.worker.SyncWorker`)."""

    def wake(self) -> None:
        """Look for due documents now (never blocks)."""

    async def set_paused(self, paused: bool, actor: str) -> None:
        """Persist the pause switch (audited) and apply it."""

    def status(self) -> dict[str, Any]:
        """Breaker, counters and statistics, JSON-ready."""


@dataclass
class Services:
    """The daemon's parts, as the routes see them (``app.state.services``). A part that does not run is None.

    ``intake_refusal(device_id)``: why new receipts for that device are refused now (FN blocked), or None.
    ``readiness()``: (can the daemon take receipts at all, why not). ``observe_intake(seconds)``: request
    to durable commit of each new receipt (a metrics hook).
    """

    settings: Settings
    store: Store
    clock: Callable[[], datetime]
    pos_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    intake_refusal: Callable[[str], str | None] = lambda _device: None
    readiness: Callable[[], tuple[bool, str]] = lambda: (True, "ready")
    observe_intake: Callable[[float], None] = lambda _seconds: None
    pipeline: Pipeline | None = None
    sync: SyncControl | None = None  # the optional HQ export's loop
    relay: SyncControl | None = None  # the OFD relay's loop (``ofd.mode = relay``)
    # refused admin calls: the first few per source and minute audited verbatim, the rest aggregated
    refusals: RefusalLog = field(default_factory=RefusalLog)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _bearer(request: Request) -> str | None:
    return bearer_token(request.headers.get("authorization"))


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(given: str, expected: SecretStr) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.get_secret_value().encode("utf-8"))


async def require_pos(request: Request) -> None:
    """Check the POS token if one is configured."""
    refusal = pos_refusal(get_services(request), request.headers.get("authorization"))
    if refusal is not None:
        raise refusal


def pos_refusal(services: Services, authorization: str | None) -> ApiError | None:
    """The 401/403 for a request whose ``Authorization`` header lacks the configured POS token, or None."""
    if services.pos_token is None:
        return None
    given = bearer_token(authorization)
    if given is None:
        return ApiError(401, "unauthorized", "This daemon requires the POS token (Authorization: Bearer …).")
    if not _matches(given, services.pos_token):
        return ApiError(403, "forbidden", "The POS token is wrong.")
    return None


async def require_admin(request: Request) -> str:
    """Check the admin token; refusals are audited. Returns the actor name for the audit log."""
    services = get_services(request)
    given = _bearer(request)
    expected = services.admin_token
    if given is not None and expected is not None and _matches(given, expected):
        return "admin"
    status, code = (401, "unauthorized") if given is None else (403, "forbidden")
    client = request.client.host if request.client else "unknown"
    detail = {"path": request.url.path, "method": request.method, "client": client, "status": status}
    await services.refusals.record(services.store.audit, client, services.clock(), detail)
    if expected is None:
        raise ApiError(403, "forbidden", "No admin token is configured; admin actions are disabled.")
    message = "The admin token is required." if status == 401 else "The admin token is wrong."
    raise ApiError(status, code, message)
