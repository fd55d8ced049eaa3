"""The simulator's two ASGI apps: the export API (``/v1/documents``) and the control API (``/_sim``).

The control API is served on its own port so that it stays reachable while the export port is "down"
(refusing connections: the export server is stopped and started again on the same port).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kkt_adapter.export.contract import ErrorBody, ErrorItem, ExportDocument
from kkt_adapter.export.sim.checks import check_document
from kkt_adapter.export.sim.db import Received, SimDb, StoreResult
from kkt_adapter.export.sim.faults import Action, DownMode, Faults, RateWindow, flaky_action


@dataclass
class SimState:
    """Everything the apps share; lives on the simulator's event-loop thread."""

    db: SimDb
    token: str | None = None
    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(default_factory=random.Random)
    window: RateWindow = field(default_factory=RateWindow)
    requests: int = 0
    answers: dict[int, int] = field(default_factory=dict)
    set_refusing: Callable[[bool], Awaitable[None]] | None = None


def _error(status: int, code: str, detail: str = "", errors: list[ErrorItem] | None = None) -> JSONResponse:
    body = ErrorBody(error=code, detail=detail, errors=errors or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _ticket(received: Received, status: int) -> JSONResponse:
    body = {"id": received.id, "ticket": received.ticket, "received_at": received.received_at}
    return JSONResponse(body, status_code=status)


def _auth_error(state: SimState, request: Request) -> JSONResponse | None:
    if state.token is None:
        return None
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        return _error(401, "unauthorized", "bearer token required")
    if header.removeprefix("Bearer ") != state.token:
        return _error(403, "forbidden", "token not accepted")
    return None


def _gate(state: SimState) -> JSONResponse | None:
    faults = state.faults
    if faults.down is DownMode.UNAVAILABLE:
        response = _error(503, "unavailable", "simulated outage")
        if faults.retry_after_s is not None:
            response.headers["Retry-After"] = str(faults.retry_after_s)
        return response
    limit = faults.rate_limit_per_s
    if limit is not None and not state.window.admit(time.monotonic(), limit):
        response = _error(429, "rate_limited", f"at most {limit} requests per second")
        response.headers["Retry-After"] = str(faults.rate_limit_retry_after_s)
        return response
    return None


def _accept(state: SimState, raw: bytes) -> JSONResponse:
    try:
        doc = ExportDocument.model_validate_json(raw)
    except ValidationError as error:
        items = [ErrorItem(field=".".join(map(str, e["loc"])), reason=e["msg"]) for e in error.errors()]
        return _error(422, "validation", "document does not match the contract", items)
    problems = check_document(doc)
    if problems:
        return _error(422, "validation", "document failed the checks", problems)
    if state.faults.reject_next > 0:
        state.faults.reject_next -= 1
        return _error(422, "validation", "rejected by the simulator's reject-next switch")
    result, received = state.db.store(doc.id, doc.canonical_json(), datetime.now(UTC))
    if result is StoreResult.CONFLICT:
        return _error(409, "conflict", f"document {doc.id} was received with other content")
    return _ticket(received, 201 if result is StoreResult.CREATED else 200)


def export_routes(state: SimState) -> list[Route]:
    """The export API of ``docs/export-api.md`` (plain Starlette routes: the simulator must be cheap per request)."""

    async def submit(request: Request) -> Response:
        state.requests += 1
        response = await _submit(request)
        state.answers[response.status_code] = state.answers.get(response.status_code, 0) + 1
        return response

    async def _submit(request: Request) -> Response:
        refused = _auth_error(state, request) or _gate(state)
        if refused is not None:
            return refused
        try:
            raw = await request.body()  # read before any delay: a client that gave up is still "received"
        except ClientDisconnect:
            return Response(status_code=499)  # nobody is listening any more
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        action = flaky_action(state.faults.error_rate, state.rng)
        if action is Action.FAIL_BEFORE_STORE:
            return _error(500, "internal", "simulated failure before storing")
        response = _accept(state, raw)
        if action is Action.FAIL_AFTER_STORE and response.status_code in (200, 201):
            return _error(500, "internal", "simulated failure after storing")
        return response

    async def fetch(request: Request) -> Response:
        doc_id = request.path_params["doc_id"]
        refused = _auth_error(state, request) or _gate(state)
        if refused is not None:
            return refused
        received = state.db.get(doc_id)
        return _ticket(received, 200) if received else _error(404, "not_found", doc_id)

    return [
        Route("/v1/documents", submit, methods=["POST"]),
        Route("/v1/documents/{doc_id}", fetch, methods=["GET"]),
    ]


class DownRequest(BaseModel):
    """Body of ``POST /_sim/down``."""

    mode: DownMode = DownMode.REFUSE
    retry_after_s: int | None = Field(default=None, ge=0)


def control_router(state: SimState) -> APIRouter:
    """Fault switches and the listing of received documents."""
    router = APIRouter(prefix="/_sim")

    @router.get("/faults")
    async def get_faults() -> Faults:
        return state.faults

    @router.put("/faults")
    async def put_faults(faults: Faults) -> Faults:
        await _apply(state, faults)
        return state.faults

    @router.post("/down")
    async def down(body: DownRequest) -> Faults:
        changed = state.faults.model_copy(update={"down": body.mode, "retry_after_s": body.retry_after_s})
        await _apply(state, changed)
        return state.faults

    @router.post("/up")
    async def up() -> Faults:
        await _apply(state, state.faults.model_copy(update={"down": None}))
        return state.faults

    @router.get("/documents")
    async def documents(limit: int = 100_000, offset: int = 0) -> dict[str, object]:
        total, submissions, repeated = state.db.totals()
        listing = [asdict(r) for r in state.db.listing(limit, offset)]
        return {"total": total, "submissions": submissions, "repeated": repeated, "documents": listing}

    @router.post("/reset")
    async def reset() -> Faults:
        await _apply(state, Faults())
        state.db.clear()
        state.requests, state.answers = 0, {}
        return state.faults

    @router.get("/stats")
    async def stats() -> dict[str, object]:
        total, submissions, repeated = state.db.totals()
        return {
            "requests": state.requests,
            "answers": {str(status): count for status, count in sorted(state.answers.items())},
            "documents": total,
            "submissions": submissions,
            "repeated": repeated,
        }

    return router


async def _apply(state: SimState, faults: Faults) -> None:
    refusing = faults.down is DownMode.REFUSE
    was_refusing = state.faults.down is DownMode.REFUSE
    state.faults = Faults.model_validate(faults.model_dump())
    if refusing != was_refusing and state.set_refusing is not None:
        await state.set_refusing(refusing)


def create_export_app(state: SimState) -> Starlette:
    """The app on the export port."""
    return Starlette(routes=export_routes(state))


def create_control_app(state: SimState) -> FastAPI:
    """The app on the control port."""
    app = FastAPI(title="export simulator control", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(control_router(state))
    return app
