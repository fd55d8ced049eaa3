"""Admin routes of the export: the dead-letter queue and the pause switch (admin token required).

Every change is audited by the buffer (replay, acknowledge, the ``sync.paused`` setting). The worker,
when it runs (``Services.sync``), is woken after a replay or a resume so the change takes effect at once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from kkt_adapter.api.deps import Services, get_services, require_admin
from kkt_adapter.api.errors import ApiError, error_responses
from kkt_adapter.buffer.errors import IllegalTransition
from kkt_adapter.buffer.events import Event
from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.export.contract import document_id
from kkt_adapter.sync.ports import PAUSE_SETTING

router = APIRouter(tags=["sync"], responses=error_responses(401, 403, 404, 409, 503))
Admin = Annotated[str, Depends(require_admin)]


def _event(event: Event) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "kind": event.kind,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "actor": event.actor,
        "reason": event.reason,
    }


def _dead_item(item: StoredReceipt, history: list[Event]) -> dict[str, Any]:
    doc_id = document_id(item.fn_serial, item.fd_number) if item.fn_serial and item.fd_number else None
    return {
        "key": item.key,
        "document_id": doc_id,
        "device_id": item.device_id,
        "fd_number": item.fd_number,
        "fiscal_datetime": item.fiscal_datetime.isoformat() if item.fiscal_datetime else None,
        "total_kop": item.receipt.total_kop,
        "reason": item.dead_reason,
        "last_response": item.last_response,
        "sync_attempts": item.sync_attempts,
        "acknowledged": item.dead_acked,
        "updated_at": item.updated_at.isoformat(),
        "history": [_event(e) for e in history],
    }


def _wake(services: Services) -> None:
    if services.sync is not None:
        services.sync.wake()


@router.get("/v1/admin/dlq")
async def list_dlq(
    request: Request,
    actor: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,  # SQLite integers are 64-bit
) -> dict[str, Any]:
    """Dead documents, oldest first, each with its reason, last endpoint response and attempt history."""
    store = get_services(request).store
    dead = await store.list_dead(limit, offset)
    items = [_dead_item(item, await store.events_of(item.key)) for item in dead]
    total = (await store.count_by_state()).get(ReceiptState.DEAD.value, 0)
    return {"total": total, "limit": limit, "offset": offset, "items": items}


@router.post("/v1/admin/dlq/replay-all")
async def replay_all(
    request: Request,
    actor: Admin,
    include_acknowledged: Annotated[bool, Query(description="also the documents an operator acknowledged")] = False,
) -> dict[str, Any]:
    """Send every dead document again under its same id (back to ``fiscalized``, attempts reset); the ones an
    operator acknowledged stay dead unless ``include_acknowledged``."""
    services = get_services(request)
    count = await services.store.replay_dead(None, actor, include_acknowledged)
    _wake(services)
    return {"replayed": count}


async def _dead_or_error(services: Services, key: str) -> StoredReceipt:
    item = await services.store.get(key)
    if item is None:
        raise ApiError(404, "not_found", f"No receipt with key {key!r}.")
    if item.state is not ReceiptState.DEAD:
        raise ApiError(409, "not_dead", f"Receipt {key!r} is {item.state.value}, not in the dead-letter queue.")
    return item


@router.post("/v1/admin/dlq/{key}/replay")
async def replay_one(key: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Send one dead document again under its same id."""
    services = get_services(request)
    await _dead_or_error(services, key)
    try:
        count = await services.store.replay_dead(key, actor)
    except IllegalTransition as exc:  # it left the DLQ between the check and the replay
        raise ApiError(409, "not_dead", str(exc)) from exc
    _wake(services)
    return {"replayed": count, "key": key}


@router.post("/v1/admin/receipts/{key}/resend")
async def resend_one(key: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Send a ``delivered`` document again under its same id (reconcile's ``not_at_export``: the HQ export
    endpoint does not hold it); audited. 404 unknown key, 409 ``not_delivered`` in any other state."""
    services = get_services(request)
    item = await services.store.get(key)
    if item is None:
        raise ApiError(404, "not_found", f"No receipt with key {key!r}.")
    try:
        reason = "the export endpoint does not hold it (reconcile not_at_export)"
        await services.store.resend_delivered(key, actor, reason)
    except IllegalTransition as exc:
        raise ApiError(409, "not_delivered", f"Receipt {key!r} is {item.state.value}, not delivered.") from exc
    _wake(services)
    return {"resent": key}


@router.post("/v1/admin/dlq/{key}/ack")
async def ack_one(key: str, request: Request, actor: Admin) -> dict[str, Any]:
    """Acknowledge a dead document: it stays dead but no longer counts as an open DLQ item."""
    services = get_services(request)
    await _dead_or_error(services, key)
    await services.store.ack_dead(key, actor)
    return {"acknowledged": key}


async def _set_paused(request: Request, paused: bool, actor: str) -> dict[str, Any]:
    services = get_services(request)
    if services.sync is not None:
        await services.sync.set_paused(paused, actor)
    else:
        await services.store.set_setting(PAUSE_SETTING, "true" if paused else "false", actor)
    return {"paused": paused}


@router.post("/v1/admin/sync/pause")
async def pause(request: Request, actor: Admin) -> dict[str, Any]:
    """Stop submitting to the export endpoint (persisted: survives restarts). Fiscalization goes on."""
    return await _set_paused(request, True, actor)


@router.post("/v1/admin/sync/resume")
async def resume(request: Request, actor: Admin) -> dict[str, Any]:
    """Resume submitting to the export endpoint."""
    return await _set_paused(request, False, actor)


@router.get("/v1/admin/sync")
async def sync_status(request: Request, actor: Admin) -> dict[str, Any]:
    """Pause switch, counts by state, and the worker's breaker and counters (null if it does not run)."""
    services = get_services(request)
    paused = await services.store.get_setting(PAUSE_SETTING) == "true"
    counts = await services.store.count_by_state()
    worker = services.sync.status() if services.sync is not None else None
    return {"paused": paused, "counts": counts, "worker": worker}
