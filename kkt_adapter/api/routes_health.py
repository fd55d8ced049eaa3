"""Liveness and readiness probes (the detailed health model is served by :mod:`kkt_adapter.ops`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from kkt_adapter.api.deps import get_services

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """The answer of ``/health/ready`` (200 and 503 alike)."""

    ready: bool
    reason: str


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process answers HTTP."""
    return {"status": "alive"}


@router.get("/health/ready", response_model=None, responses={200: {"model": Readiness}, 503: {"model": Readiness}})
async def ready(request: Request) -> JSONResponse:
    """200 when the daemon can take receipts, 503 with the reason when it cannot."""
    ok, reason = get_services(request).readiness()
    return JSONResponse({"ready": ok, "reason": reason}, status_code=200 if ok else 503)
