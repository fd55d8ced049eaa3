"""The one error shape of the API, and the handlers that produce it.

Every error answer has the body::

    {"error": "<code>", "message": "<one sentence for a person>", "details": [{"field": "...", "reason": "..."}]}

``details`` lists each bad field for 422 answers and is empty otherwise.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from kkt_adapter.buffer.errors import (
    BufferFull,
    DatabaseRefused,
    IdempotencyConflict,
    NotFound,
    StorageUnavailable,
    StoreError,
)
from kkt_adapter.errors import AdapterError

RETRY_AFTER_S = 5
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's detail for an undecodable body


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """The error shape of every non-2xx answer."""

    error: str
    message: str
    details: list[FieldError] = []


class ApiError(AdapterError):
    """An error answer with a status, a code, a message and optional field details and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=code, message=message, details=details or [])
        self.headers = headers


def invalid(field: str, reason: str, message: str = "The request is invalid.") -> ApiError:
    """The 422 for one invalid field (``field`` is its path, ``reason`` says what is wrong)."""
    return invalid_fields([FieldError(field=field, reason=reason)], message)


def invalid_fields(details: list[FieldError], message: str = "The request is invalid.") -> ApiError:
    """The 422 for several invalid fields."""
    return ApiError(422, "validation_failed", message, details)


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` declaring the error shape for ``statuses`` (422 included, replacing FastAPI's own)."""
    return {status: {"model": ErrorBody} for status in sorted({*statuses, 422})}


def error_response(
    status: int, code: str, message: str, details: list[FieldError] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=code, message=message, details=details or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def api_error_response(exc: ApiError) -> JSONResponse:
    """The answer for an :class:`ApiError` (the app's handler and the intake's fast way in both use it)."""
    return JSONResponse(exc.body.model_dump(), status_code=exc.status, headers=exc.headers)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body",)]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _validation_details(exc: RequestValidationError) -> list[FieldError]:
    details = []
    for item in exc.errors():
        reason = "unknown field" if item.get("type") == "extra_forbidden" else str(item.get("msg", "invalid"))
        details.append(FieldError(field=_loc(tuple(item.get("loc", ()))), reason=reason))
    return details


def buffer_error_response(exc: StoreError) -> JSONResponse:
    """Map the buffer's errors to answers: 503 (+Retry-After) for storage/capacity, 409, 404, 500."""
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if isinstance(exc, BufferFull):
        return error_response(503, "buffer_full", f"The receipt buffer is full ({exc}); retry later.", headers=retry)
    if isinstance(exc, StorageUnavailable):
        return error_response(503, "storage_unavailable", str(exc), headers=retry)
    if isinstance(exc, IdempotencyConflict):
        return error_response(409, "idempotency_conflict", str(exc))
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", f"No receipt with key {exc}.")
    if isinstance(exc, DatabaseRefused):
        return error_response(503, "database_refused", str(exc), headers=retry)
    return error_response(500, "internal", "Internal error in the buffer; the request was not applied.")


def install_handlers(app: FastAPI) -> None:
    """Make every error answer use :class:`ErrorBody`."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "validation_failed", "The request is invalid.", _validation_details(exc))

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(exc)

    @app.exception_handler(StoreError)
    async def _buffer(_: Request, exc: StoreError) -> JSONResponse:
        return buffer_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
            # FastAPI's answer for a body it cannot decode (invalid UTF-8, a 5,000-digit number, nesting
            # beyond the parser's depth): the same 422 as for malformed JSON, naming the body.
            reason = "is not valid UTF-8 JSON within the parser's limits"
            return error_response(
                422, "validation_failed", "The request is invalid.", [FieldError(field="body", reason=reason)]
            )
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first route's methods).

    Asks each top-level route whether it fully matches the path with each method, so routes nested in
    included routers are found through the public ``matches`` contract.
    """
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
