"""Admin routes of the OFD relay: its state, its dead-letter queue (dead and FN-refused messages), replay and
acknowledge (admin token required). Every change is audited by the buffer; the relay is woken after a replay.

The pause switch is the shared ``sync.paused`` (``/v1/admin/sync/pause``): it stops the relay and the export.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam

from kkt_adapter.api.deps import get_services, require_admin
from kkt_adapter.api.errors import ApiError, error_responses
from kkt_adapter.buffer.errors import IllegalTransition
from kkt_adapter.buffer.outbox import OutboxMessage, OutboxState
from kkt_adapter.sync.ports import PAUSE_SETTING

router = APIRouter(tags=["ofd"], responses=error_responses(401, 403, 404, 409, 503))
Admin = Annotated[str, Depends(require_admin)]
DLQ_STATES = (OutboxState.DEAD, OutboxState.REFUSED)


def _item(row: OutboxMessage) -> dict[str, Any]:
    return {
        "fn_serial": row.fn_serial,
        "fd_number": row.fd_number,
        "device_id": row.device_id,
        "doc_type": row.doc_type,
        "state": row.state.value,
        "reason": row.dead_reason or row.refuse_reason,
        "fn_code": row.refuse_code,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "acknowledged": row.dead_acked,
        "read_at": row.read_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "answer_hex": None if row.answer is None else row.answer.hex(),
    }


@router.get("/v1/admin/ofd")
async def ofd_status(request: Request, actor: Admin) -> dict[str, Any]:
    """The relay's mode, the pause switch, outbox rows per state, and the loop's breaker and counters."""
    services = get_services(request)
    return {
        "mode": services.settings.ofd.mode.value,
        "paused": await services.store.get_setting(PAUSE_SETTING) == "true",
        "outbox": await services.store.outbox_counts(),
        "relay": services.relay.status() if services.relay is not None else None,
    }


@router.get("/v1/admin/ofd/dlq")
async def list_ofd_dlq(
    request: Request, actor: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """Dead (the OFD's answer was not a ticket, or said no) and FN-refused messages, oldest first."""
    store = get_services(request).store
    rows = [row for state in DLQ_STATES for row in await store.outbox_list(state, limit)]
    rows.sort(key=lambda r: (r.read_at, r.fd_number))
    return {"total": len(rows), "items": [_item(row) for row in rows[:limit]]}


async def _dlq_row(request: Request, fn_serial: str, fd_number: int) -> OutboxMessage:
    row = await get_services(request).store.outbox_get(fn_serial, fd_number)
    if row is None:
        raise ApiError(404, "not_found", f"No OFD message for FN {fn_serial}, FD {fd_number}.")
    if row.state not in DLQ_STATES:
        raise ApiError(409, "not_dead", f"FN {fn_serial} FD {fd_number} is {row.state.value}, not dead or refused.")
    return row


# An FD number is 32 bits in the FN (FF39, FF3C); an FN serial is 16 digits. Bounded here, a number beyond
# 64 bits no longer reaches SQLite (it answered 500 under schemathesis's fuzzing phase).
FdNumber = Annotated[int, PathParam(ge=1, le=0xFFFFFFFF, description="FD number (32 bits)")]
FnSerial = Annotated[str, PathParam(pattern=r"^[0-9]{16}$", description="FN serial, 16 digits")]


@router.post("/v1/admin/ofd/dlq/{fn_serial}/{fd_number}/replay")
async def replay_ofd(fn_serial: FnSerial, fd_number: FdNumber, request: Request, actor: Admin) -> dict[str, Any]:
    """Send the message to the OFD again for a fresh answer (dead/refused → read)."""
    services = get_services(request)
    await _dlq_row(request, fn_serial, fd_number)
    try:
        await services.store.outbox_replay(fn_serial, fd_number, actor)
    except IllegalTransition as exc:
        raise ApiError(409, "not_dead", str(exc)) from exc
    if services.relay is not None:
        services.relay.wake()
    return {"replayed": {"fn_serial": fn_serial, "fd_number": fd_number}}


@router.post("/v1/admin/ofd/dlq/{fn_serial}/{fd_number}/ack")
async def ack_ofd(fn_serial: FnSerial, fd_number: FdNumber, request: Request, actor: Admin) -> dict[str, Any]:
    """Acknowledge a dead or refused message: it stays as it is but no longer raises the DLQ alarm."""
    await _dlq_row(request, fn_serial, fd_number)
    await get_services(request).store.outbox_ack_dead(fn_serial, fd_number, actor)
    return {"acknowledged": {"fn_serial": fn_serial, "fd_number": fd_number}}
