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

from kkt_adapter.buffer.errors import (
    BufferError,
    BufferFull,
    DatabaseRefused,
    IdempotencyConflict,
    NotFound,
    StorageUnavailable,
)

RETRY_AFTER_S = 5


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """The error shape of every non-2xx answer."""

    error: str
    message: str
    details: list[FieldError] = []


class ApiError(Exception):
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


def error_response(
    status: int, code: str, message: str, details: list[FieldError] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=code, message=message, details=details or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


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


def buffer_error_response(exc: BufferError) -> JSONResponse:
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
        return JSONResponse(exc.body.model_dump(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(BufferError)
    async def _buffer(_: Request, exc: BufferError) -> JSONResponse:
        return buffer_error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail), headers=dict(exc.headers or {}))
