"""``/v1/receipts``: intake (idempotent, durable before the reply) and status (always from the buffer)."""

from __future__ import annotations

import math
import time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import QueryParams

from kkt_adapter.api.deps import Services, get_services, require_pos
from kkt_adapter.api.errors import ApiError, ErrorBody, FieldError, invalid, invalid_fields
from kkt_adapter.api.schemas import ReceiptOut, ReceiptPage, receipt_out
from kkt_adapter.buffer.errors import StorageUnavailable
from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem, is_valid_key
from kkt_adapter.receipts.rules import check_receipt

router = APIRouter(prefix="/v1/receipts", tags=["receipts"])
WAIT_MAX_S = 600.0
# The intake's header and query parameter are read by hand (FastAPI's per-request parameter machinery was
# a tenth of the intake's CPU, docs/benchmarks.md) and documented here for the OpenAPI schema.
INTAKE_PARAMETERS = {
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "The receipt's idempotency key (or the body's id): 1–64 of A-Z a-z 0-9 . _ : -",
            "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
        },
        {
            "name": "wait",
            "in": "query",
            "required": False,
            "description": "Seconds to wait for the fiscal result",
            "schema": {"type": "number", "minimum": 0, "maximum": WAIT_MAX_S},
        },
    ]
}
SETTLED = frozenset({ReceiptState.FISCALIZED, ReceiptState.DELIVERED, ReceiptState.REJECTED, ReceiptState.DEAD})
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 422, 503)
}


def _key(header_key: str | None, receipt: ReceiptIn) -> str:
    """The idempotency key: the header's or the body's ``id`` (equal when both are given)."""
    if header_key is not None and not is_valid_key(header_key):
        raise invalid("Idempotency-Key", "must be 1–64 characters of A-Z a-z 0-9 . _ : -")
    if header_key and receipt.id and header_key != receipt.id:
        raise invalid("id", "differs from the Idempotency-Key header")
    key = header_key or receipt.id
    if key is None:
        raise invalid("Idempotency-Key", "an Idempotency-Key header or a body id is required")
    return key


def _tz(services: Services) -> ZoneInfo:
    return ZoneInfo(services.settings.ops.timezone)


def _answer(services: Services, stored: StoredReceipt, status: int) -> Response:
    """The receipt as JSON with its ``Location``: serialized once here (the route's ``response_model``
    documents it; returning a ``Response`` spares FastAPI validating the same model again)."""
    body = receipt_out(stored, _tz(services)).model_dump_json().encode()
    headers = {"Location": f"/v1/receipts/{stored.key}"}
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def _wait(services: Services, raw: str | None) -> float:
    """Seconds to wait for the fiscal result: the ``wait`` query parameter (0–600) or the default, at most
    ``api.wait_max_s``."""
    api = services.settings.api
    if raw is None:
        return min(api.wait_default_s, api.wait_max_s)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 <= value <= WAIT_MAX_S:  # also refuses nan
        raise invalid("query.wait", f"must be a number of seconds from 0 to {WAIT_MAX_S:.0f}")
    return min(value, api.wait_max_s)


@router.post(
    "",
    response_model=ReceiptOut,
    status_code=202,
    responses=ERRORS,
    openapi_extra=INTAKE_PARAMETERS,
    dependencies=[Depends(require_pos)],
)
async def post_receipt(receipt: ReceiptIn, request: Request) -> Response:
    """Accept a receipt. 202 = stored durably (not yet fiscalized); 201 = fiscalized within ``wait``;
    200 = a replay of a key already stored with the same body; 409 = the key is used by another body."""
    key_header = request.headers.get("idempotency-key")
    return await take_receipt(get_services(request), receipt, key_header, request.scope.get("query_string", b""))


async def take_receipt(services: Services, receipt: ReceiptIn, key_header: str | None, query: bytes) -> Response:
    """:func:`post_receipt` once the request is parsed (also run by the fast way in, ``intake_route``);
    raises :class:`ApiError` and the buffer's errors for the app's handlers."""
    key = _key(key_header, receipt)
    # parsing the query string costs more than the rest of this line: most POS programs send none
    wait_s = _wait(services, QueryParams(query).get("wait") if query else None)
    admitted = _admit(services, receipt)
    if isinstance(admitted, ApiError):
        return await _replay(services, key, receipt, admitted)
    stored = await _store(services, key, receipt, admitted)
    if isinstance(stored, Response):  # a replay, or a stored receipt confirmed while the disk refuses writes
        return stored
    stored = await _wait_settled(services, stored, wait_s)
    return _answer(services, stored, 201 if stored.state in SETTLED else 202)


async def _store(
    services: Services, key: str, receipt: ReceiptIn, admitted: tuple[str, TaxSystem]
) -> StoredReceipt | Response:
    """The new receipt, durably stored; or the 200 answer for a replay. The buffer decides new key / same
    body / other body (IdempotencyConflict, 409)."""
    started = time.monotonic()
    try:
        stored, created = await services.store.insert_receipt(key, receipt, *admitted)
    except StorageUnavailable as exc:  # the disk refuses writes: a receipt stored earlier can be confirmed
        return await _replay(services, key, receipt, exc)
    if not created:
        return _answer(services, stored, 200)
    services.observe_intake(time.monotonic() - started)
    return stored


def _admit(services: Services, receipt: ReceiptIn) -> tuple[str, TaxSystem] | ApiError:
    """``(device id, tax system)`` for a receipt that may be taken now, or why not (422 for its content or
    device, 503 when the device cannot fiscalize for a long time)."""
    settings = services.settings
    device_id = receipt.device or settings.default_device_id
    device = settings.device(device_id)
    if device is None:
        return invalid("device", f"no device {device_id!r} is configured")
    tax_system = receipt.tax_system or device.tax_system
    now = services.clock().astimezone(_tz(services))
    problems = check_receipt(receipt, tax_system, now, settings.api.max_items)
    if problems:
        return invalid_fields([FieldError(field=p.field, reason=p.reason) for p in problems], "The receipt is invalid.")
    refusal = services.intake_refusal(device_id)
    if refusal is not None:
        return ApiError(503, "cannot_fiscalize", refusal, headers={"Retry-After": "30"})
    return device_id, tax_system


async def _replay(services: Services, key: str, receipt: ReceiptIn, error: Exception) -> Response:
    """The one replay path when the receipt cannot be stored now: a receipt already stored under ``key``
    with this body answers 200 (the POS must learn it is stored, even if it would not be taken today);
    another body is the buffer's 409; a new key gets ``error``."""
    stored = await services.store.find_replay(key, receipt)
    if stored is None:
        raise error
    return _answer(services, stored, 200)


async def _wait_settled(services: Services, stored: StoredReceipt, wait_s: float) -> StoredReceipt:
    deadline = time.monotonic() + wait_s
    while stored.state not in SETTLED:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await services.store.wait_for_change(stored.key, left)
        fresh = await services.store.get(stored.key)
        if fresh is None:
            break
        stored = fresh
    return stored


@router.get("/{key}", response_model=ReceiptOut, responses=ERRORS, dependencies=[Depends(require_pos)])
async def get_receipt(key: str, request: Request) -> ReceiptOut:
    """The receipt's current state, straight from the buffer (never waits on a device)."""
    services = get_services(request)
    stored = await services.store.get(key)
    if stored is None:
        raise ApiError(404, "not_found", f"No receipt with id {key!r}.")
    return receipt_out(stored, _tz(services))


@router.get("", response_model=ReceiptPage, responses=ERRORS, dependencies=[Depends(require_pos)])
async def list_receipts(
    request: Request,
    state: ReceiptState | None = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ReceiptPage:
    """Receipts in acceptance order, optionally of one state; page with ``after=next_after``."""
    services = get_services(request)
    rows = await services.store.listing(state, after, limit)
    tz = _tz(services)
    return ReceiptPage(
        items=[receipt_out(r, tz) for r in rows], next_after=rows[-1].seq if len(rows) == limit else None
    )
