"""Health routes: ``health_router`` serves ``GET /v1/health``; ``readiness_router`` serves ``GET /health/ready``
(include it unless the app has its own readiness probe).

The app's wiring puts one :class:`HealthSource` on ``app.state.health`` (the cashier page and
``/metrics`` read the same one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kkt_adapter.ops.health import Health, can_accept_receipts, evaluate
from kkt_adapter.ops.health_json import health_json
from kkt_adapter.ops.problem import DEFAULT_LIMITS, Limits
from kkt_adapter.ops.snapshot import Snapshot

health_router = APIRouter(tags=["health"])
readiness_router = APIRouter(tags=["health"])


def _local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True)
class HealthSource:
    """Where health comes from: ``snapshot()`` answers from caches at once (it is called on the event loop
    for every request and never touches a serial port); ``now()`` is aware, in the shop's timezone;
    ``outbox()`` reads the relay outbox's rows per state and its unacknowledged dead ones (for /metrics)."""

    snapshot: Callable[[], Snapshot]
    now: Callable[[], datetime] = _local_now
    limits: Limits = DEFAULT_LIMITS
    outbox: Callable[[], Awaitable[tuple[dict[str, int], int]]] | None = None


def health_source(request: Request) -> HealthSource | None:
    """The app's :class:`HealthSource`, or None when the wiring set none."""
    source = getattr(request.app.state, "health", None)
    return source if isinstance(source, HealthSource) else None


def current_health(request: Request) -> tuple[Health, Snapshot, Limits]:
    """Evaluate the app's current snapshot with its clock and limits."""
    source = health_source(request)
    if source is None:
        raise RuntimeError("app.state.health is not set")  # a wiring bug, not a request's fault
    snap = source.snapshot()
    return evaluate(snap, source.now(), source.limits), snap, source.limits


@health_router.get("/v1/health")
async def get_health(request: Request) -> dict[str, Any]:
    """The verdict, the problems with their Russian sentences, the key numbers and the snapshot."""
    health, snap, limits = current_health(request)
    return health_json(health, snap, limits)


@readiness_router.get("/health/ready")
async def get_ready(request: Request) -> JSONResponse:
    """200 when the daemon can accept receipts, 503 with the reason when it cannot."""
    ready, reason = can_accept_receipts(current_health(request)[0])
    return JSONResponse({"ready": ready, "reason": reason}, status_code=200 if ready else 503)
