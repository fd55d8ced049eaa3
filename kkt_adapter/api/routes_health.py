"""Liveness and readiness probes (the detailed health model is served by :mod:`kkt_adapter.ops`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kkt_adapter.api.deps import get_services

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers HTTP."""
    return {"status": "alive"}


@router.get("/health/ready", response_model=None)
async def ready(request: Request) -> JSONResponse:
    """200 when the daemon can take receipts, 503 with the reason when it cannot."""
    ok, reason = get_services(request).readiness()
    return JSONResponse({"ready": ok, "reason": reason}, status_code=200 if ok else 503)
