"""``/v1/devices``: cached device status (no token), and operator actions behind the admin token.

The routes find the pipeline in ``services.pipeline`` (:class:`kkt_adapter.pipeline.service.Pipeline`).
``GET /v1/devices`` answers from the workers' caches and never waits on a serial port. Each admin action
is queued to the device's worker (run between receipts, never beside one), awaited, and written to the
audit log with its outcome; that includes ``GET …/fn-documents``, which reads the FN archive for
``kkt-adapter reconcile``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from kkt_adapter.api.deps import Services, get_services, require_admin
from kkt_adapter.api.errors import ApiError, error_responses, invalid
from kkt_adapter.kkt.errors import DeviceError, KktError
from kkt_adapter.pipeline.commands import MAX_READ_DOCUMENTS, Action, ActionRefused, DeviceUnavailable
from kkt_adapter.pipeline.service import Pipeline

router = APIRouter(tags=["devices"], responses=error_responses(401, 403, 404, 409, 503))
ACTION_TIMEOUT_S = 120.0


def _pipeline(services: Services) -> Pipeline:
    pipeline = services.pipeline
    if pipeline is None:
        raise ApiError(503, "not_ready", "The fiscalization pipeline is not running.")
    return pipeline


@router.get("/v1/devices")
async def list_devices(request: Request) -> dict[str, list[dict[str, object]]]:
    """Every configured device's cached status (connection, mode, paper, shift, FN, halted queue)."""
    pipeline = _pipeline(get_services(request))
    return {"devices": [cache.as_json() for cache in pipeline.device_snapshots()]}


async def _act(
    request: Request, device_id: str, action: Action, actor: str, params: dict[str, int] | None = None
) -> dict[str, Any]:
    services = get_services(request)
    pipeline = _pipeline(services)
    if device_id not in pipeline.workers:
        raise ApiError(404, "not_found", f"No device {device_id!r} is configured.")
    detail: dict[str, Any] = {"device": device_id, "action": action.value, **(params or {})}
    try:
        result = await pipeline.command(device_id, action, actor, ACTION_TIMEOUT_S, params)
    except DeviceUnavailable as exc:
        await services.store.audit(f"device {action.value}", actor, {**detail, "outcome": "unavailable"})
        raise ApiError(503, "device_unavailable", str(exc), headers={"Retry-After": "5"}) from exc
    except ActionRefused as exc:
        await services.store.audit(f"device {action.value}", actor, {**detail, "outcome": f"refused: {exc}"})
        raise ApiError(409, "action_refused", f"Refused: {exc}") from exc
    except DeviceError as exc:
        await services.store.audit(f"device {action.value}", actor, {**detail, "outcome": f"0x{exc.code:02X}"})
        raise ApiError(409, "device_refused", f"The device refused: {exc.text} (0x{exc.code:02X}).") from exc
    except (KktError, TimeoutError) as exc:
        await services.store.audit(f"device {action.value}", actor, {**detail, "outcome": "failed"})
        raise ApiError(503, "device_unavailable", f"The device did not complete the action: {exc}") from exc
    await services.store.audit(f"device {action.value}", actor, {**detail, "outcome": "ok"})
    return result


Admin = Annotated[str, Depends(require_admin)]


@router.post("/v1/admin/devices/{device_id}/open-shift")
async def open_shift(device_id: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Open a shift on the device (E0h)."""
    return await _act(request, device_id, Action.OPEN_SHIFT, actor)


@router.post("/v1/admin/devices/{device_id}/close-shift")
async def close_shift(device_id: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Close the shift with a Z report (41h)."""
    return await _act(request, device_id, Action.CLOSE_SHIFT, actor)


@router.post("/v1/admin/devices/{device_id}/x-report")
async def x_report(device_id: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Print an X report (40h)."""
    return await _act(request, device_id, Action.X_REPORT, actor)


@router.post("/v1/admin/devices/{device_id}/continue-print")
async def continue_print(device_id: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Finish an interrupted paper copy (B0h)."""
    return await _act(request, device_id, Action.CONTINUE_PRINT, actor)


@router.post("/v1/admin/devices/{device_id}/set-clock")
async def set_clock(device_id: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Set the device's clock from the host's (22h/23h/21h), audited; 409 ``action_refused`` while a shift
    is open or when the host's clock is earlier than the FN's last document. Answer: the device's time
    and the clock offset (device − host, s) before and after."""
    return await _act(request, device_id, Action.SET_CLOCK, actor)


class ResolveDecision(BaseModel):
    """The operator's decision for one unresolved receipt of the device (see ``GET …/resolve`` first)."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[A-Za-z0-9._:\-]{1,64}$", description="the receipt's key")
    decision: Literal["fiscalized", "not_printed"] = Field(
        description="fiscalized: the FN document fd_number is this receipt; not_printed: print it again"
    )
    fd_number: int | None = Field(default=None, ge=1, le=0xFFFFFFFF, description="with fiscalized: the FD number")
    fiscal_sign: int | None = Field(
        default=None,
        ge=1,
        le=0xFFFFFFFFFFFF,
        description="with fiscalized, for a receipt printing on an FN replaced since: the fiscal sign (ФП) of "
        "that FD on the old FN (from the paper receipt or the OFD's cabinet)",
    )


@router.get("/v1/admin/devices/{device_id}/resolve")
async def resolve_evidence(device_id: str, request: Request, actor: Admin) -> dict[str, Any]:
    """The evidence for a halted queue (read only, audited): the halt's reason, each unresolved receipt
    (key, seq, state, total, operation, the FN's last FD when printing began) and the FN documents after
    the earliest intent (type, sum, fiscal sign, time)."""
    return await _act(request, device_id, Action.RESOLVE_EVIDENCE, actor)


@router.post("/v1/admin/devices/{device_id}/resolve")
async def resolve(device_id: str, body: ResolveDecision, request: Request, actor: Admin) -> dict[str, Any]:
    """Decide an unresolved receipt, audited: ``fiscalized`` with ``fd_number`` (refused, 409, unless that
    FN document is a receipt of the same sum not taken by another receipt) or ``not_printed`` (back to
    ``accepted``: it prints again). A receipt printing on an FN replaced since (``on_replaced_fn`` in the
    evidence) takes ``fiscalized`` only with ``fiscal_sign`` too (409 without): its FD is on the old FN.
    The queue then runs again."""
    if (body.decision == "fiscalized") != (body.fd_number is not None):
        raise invalid("fd_number", "required with decision fiscalized, and only then")
    if body.fiscal_sign is not None and body.decision != "fiscalized":
        raise invalid("fiscal_sign", "only with decision fiscalized")
    row = await get_services(request).store.get(body.key)
    if row is None or row.device_id != device_id:
        raise ApiError(404, "not_found", f"No receipt {body.key!r} on device {device_id!r}.")
    params = {"seq": row.seq, "fd_number": body.fd_number or 0, "fiscal_sign": body.fiscal_sign or 0}
    return await _act(request, device_id, Action.RESOLVE, actor, params)


@router.get("/v1/admin/devices/{device_id}/fn-documents")
async def fn_documents(
    device_id: str,
    request: Request,
    actor: Admin,
    from_fd: Annotated[int, Query(ge=1, description="first FD number")],
    to_fd: Annotated[int | None, Query(ge=1, description="last FD number (default: from_fd + 4999)")] = None,
) -> dict[str, Any]:
    """The FN archive (FF0A) for FDs ``from_fd..to_fd``, at most 5,000, clamped to the FN's last document.

    Answer: ``fn_serial``, ``last_fd_number``, ``documents`` (``fd_number``, ``doc_type`` 2 shift open / 3
    receipt / 5 shift close…, ``fiscal_sign``, ``doc_datetime`` in the KKT's local time, ``operation`` and
    ``sum_kop`` for receipts, ``shift_number`` for shift documents, ``ticket_received``) and ``missing``
    (numbers the FN refused). Read on the device's worker between receipts; receipts wait meanwhile.
    """
    last = from_fd + MAX_READ_DOCUMENTS - 1 if to_fd is None else to_fd
    if last < from_fd or last - from_fd + 1 > MAX_READ_DOCUMENTS:
        reason = f"must be ≥ from_fd and at most from_fd + {MAX_READ_DOCUMENTS - 1}"
        raise invalid("to_fd", reason)
    return await _act(request, device_id, Action.READ_DOCUMENTS, actor, {"from_fd": from_fd, "to_fd": last})


def _orphan_device(services: Services, device_id: str) -> Pipeline:
    pipeline = _pipeline(services)
    if device_id in pipeline.workers:
        raise ApiError(409, "device_configured", f"Device {device_id!r} is configured: its worker prints its receipts.")
    return pipeline


@router.post("/v1/admin/orphans/{device_id}/move")
async def move_orphans(
    device_id: str,
    request: Request,
    actor: Admin,
    to: Annotated[str, Query(description="a configured device that takes the receipts")],
) -> dict[str, Any]:
    """Give every ``accepted`` receipt of ``device_id`` (a device no longer in the configuration) to the
    configured device ``to``, audited. 409 when ``device_id`` is configured, 422 when ``to`` is not."""
    services = get_services(request)
    pipeline = _orphan_device(services, device_id)
    if to not in pipeline.workers:
        raise invalid("to", f"{to!r} is not a configured device")
    keys = await services.store.move_accepted(device_id, to, actor)
    pipeline.wake()
    return {"from_device": device_id, "to_device": to, "moved": len(keys), "keys": keys}


@router.post("/v1/admin/orphans/{device_id}/reject")
async def reject_orphans(device_id: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Reject every ``accepted`` receipt of ``device_id`` (a device no longer in the configuration): never
    printed, ``rejected`` with the reason, audited. 409 when ``device_id`` is configured."""
    services = get_services(request)
    _orphan_device(services, device_id)
    reason = f"device {device_id} was removed from the configuration; rejected by an operator"
    keys = await services.store.reject_accepted(device_id, actor, reason)
    return {"device": device_id, "rejected": len(keys), "keys": keys}
