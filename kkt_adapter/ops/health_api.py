"""Health routes: ``health_router`` serves ``GET /v1/health``; ``readiness_router`` serves ``GET /health/ready``
(include it unless the app has its own readiness probe).

The app's wiring puts on ``app.state``:

- ``get_snapshot``: ``Callable[[], Snapshot]`` (required). Called on the event loop for every request,
  so it must return from caches at once; it never touches a serial port.
- ``now``: ``Callable[[], datetime]`` returning an aware datetime in the shop's timezone (optional;
  default ``datetime.now().astimezone()``).
- ``health_limits``: :class:`~kkt_adapter.ops.problem.Limits` (optional; default the 54-FZ defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

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


def current_health(request: Request) -> tuple[Health, Snapshot, Limits]:
    """Evaluate the app's current snapshot with its clock and limits (see the module docstring)."""
    state = request.app.state
    get_snapshot = cast(Callable[[], Snapshot], state.get_snapshot)
    now = cast(Callable[[], datetime], getattr(state, "now", _local_now))
    limits = cast(Limits, getattr(state, "health_limits", DEFAULT_LIMITS))
    snap = get_snapshot()
    return evaluate(snap, now(), limits), snap, limits


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
