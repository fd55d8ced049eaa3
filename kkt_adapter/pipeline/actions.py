"""Shift and printer actions of a worker (open/close shift, X report, continue printing, read the FN
archive), on its device.

Called only from the device's worker, between receipts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kkt_adapter.kkt.device import KktDevice
from kkt_adapter.kkt.errors import DeviceRejected
from kkt_adapter.kkt.types import FnDocument
from kkt_adapter.pipeline import watch
from kkt_adapter.pipeline.commands import MAX_READ_DOCUMENTS, SCHEDULER, Action, ActionRefused
from kkt_adapter.pipeline.context import DeviceContext

log = logging.getLogger("kkt_adapter.pipeline")


async def open_shift(ctx: DeviceContext) -> None:
    """E0h, then remember when, on the device's clock (for the close before the 24-hour limit)."""
    await ctx.io(ctx.driver.open_shift)
    await watch.remember_opening(ctx)
    log.info("device %s: shift %s opened", ctx.device.id, ctx.cache.shift_number)


async def close_shift(ctx: DeviceContext, why: str, audit_actor: str | None = None) -> None:
    """41h Z report; written to the audit log as ``device close-shift`` by ``audit_actor`` when given (the
    automatic and scheduled closes: the admin routes audit their own)."""
    number = ctx.cache.shift_number
    await ctx.io(ctx.driver.z_report)
    log.info("device %s: shift %s closed (%s)", ctx.device.id, number, why)
    ctx.cache.shift_open, ctx.cache.shift_opened_at = False, None
    if audit_actor is not None:
        detail = {"device": ctx.device.id, "action": "close-shift", "shift": number, "why": why, "outcome": "ok"}
        await ctx.store.audit("device close-shift", audit_actor, detail)


async def _require_shift(ctx: DeviceContext, is_open: bool) -> None:
    """Refuse (nothing sent) an operator's shift action the shift's state makes pointless."""
    params = await ctx.io(ctx.driver.shift_params)
    if params.is_open == is_open:
        return
    if is_open:
        raise ActionRefused("смена уже закрыта / the shift is already closed")
    raise ActionRefused(f"смена {params.shift_number} уже открыта / the shift is already open")


async def set_clock(ctx: DeviceContext) -> dict[str, Any]:
    """Set the device's clock from the host's (its local time in the shop's zone), then read it back.

    Refused (:class:`ActionRefused`, nothing sent) while a shift is open (the law lets the clock move only
    between shifts) or when the host's clock is earlier than the FN's last document (a host booted
    before NTP: setting the device back would break the FN's order of documents).
    """
    params = await ctx.io(ctx.driver.shift_params)
    if params.is_open:
        raise ActionRefused(
            f"смена {params.shift_number} открыта: часы кассы можно менять только при закрытой смене; "
            "закройте смену (Z-отчёт) / the shift is open: close it first"
        )
    host_now = ctx.clock().astimezone(ctx.zone)
    last = await _last_document_time(ctx)
    if last is not None and host_now < last:
        raise ActionRefused(
            f"часы компьютера ({host_now:%Y-%m-%d %H:%M}) раньше последнего документа ФН ({last:%Y-%m-%d %H:%M}), "
            "а ФН не примет документ с более ранней датой: если неверно время компьютера — поправьте его; "
            "если ушли вперёд часы кассы — вызовите сервисный центр / the host's clock is earlier than the FN's "
            "last document"
        )
    before = ctx.cache.clock
    await ctx.io(ctx.driver.set_datetime, host_now.replace(tzinfo=None, microsecond=0))
    after = await watch.read_clock(ctx)
    log.info(
        "device %s: clock set from the host's (offset %.0f s before)", ctx.device.id, before.offset_s if before else 0
    )
    return {
        "device_time_before": None if before is None else before.device_at.isoformat(timespec="seconds"),
        "offset_s_before": None if before is None else round(before.offset_s, 1),
        "device_time": after.device_at.isoformat(timespec="seconds"),
        "offset_s": round(after.offset_s, 1),
    }


async def _last_document_time(ctx: DeviceContext) -> datetime | None:
    fn = await ctx.io(ctx.driver.fn_status)
    if fn.last_fd_number < 1:
        return None
    try:
        doc = await ctx.io(ctx.driver.find_document, fn.last_fd_number)
    except DeviceRejected:
        return None
    return ctx.local(doc.doc_datetime)


async def mark_printed(ctx: DeviceContext) -> bool:
    """Clear the incomplete-print flag of the device's receipts; True if there were any."""
    rows = await ctx.store.incomplete_prints(ctx.device.id)
    for row in rows:
        await ctx.store.mark_printed(row.key)
    return bool(rows)


def document_json(doc: FnDocument) -> dict[str, Any]:
    """One FN archive document as JSON (``doc_datetime``: the KKT's local time, no offset, minutes)."""
    return {
        "fd_number": doc.fd_number,
        "doc_type": doc.doc_type,
        "fiscal_sign": doc.fiscal_sign,
        "doc_datetime": doc.doc_datetime.isoformat(),
        "operation": doc.operation,
        "sum_kop": doc.sum_kop,
        "shift_number": doc.shift_number,
        "ticket_received": doc.ticket_received,
    }


READ_CHUNK = 50  # FF0A calls per trip to the I/O thread; the heartbeat is renewed between trips


def _read_chunk(driver: KktDevice, from_fd: int, to_fd: int) -> tuple[list[dict[str, Any]], list[int]]:
    """FF0A for every FD in ``from_fd..to_fd``: the documents, and the numbers the FN refused."""
    documents: list[dict[str, Any]] = []
    missing: list[int] = []
    for fd_number in range(from_fd, to_fd + 1):
        try:
            documents.append(document_json(driver.find_document(fd_number)))
        except DeviceRejected:
            missing.append(fd_number)
    return documents, missing


async def read_documents(ctx: DeviceContext, from_fd: int, to_fd: int) -> dict[str, Any]:
    """The FN's serial (FF01), last FD number and archive documents (FF0A) ``from_fd..to_fd``, clamped to the
    last FD; ``missing``: numbers in that range the FN refused.

    Read-only (makes no fiscal document); at most :data:`MAX_READ_DOCUMENTS` numbers, ``from_fd`` ≥ 1, else
    ValueError. Read in chunks, renewing the worker's heartbeat after each, so that a long read of a slow
    device is not taken for a hung worker by the systemd watchdog.
    """
    if from_fd < 1 or to_fd < from_fd or to_fd - from_fd + 1 > MAX_READ_DOCUMENTS:
        raise ValueError(f"bad FD range {from_fd}..{to_fd} (1 ≤ from ≤ to, at most {MAX_READ_DOCUMENTS})")
    fn = await ctx.io(ctx.driver.fn_status)
    documents: list[dict[str, Any]] = []
    missing: list[int] = []
    for start in range(from_fd, min(to_fd, fn.last_fd_number) + 1, READ_CHUNK):
        end = min(start + READ_CHUNK - 1, to_fd, fn.last_fd_number)
        found, refused = await ctx.io(_read_chunk, ctx.driver, start, end)
        documents += found
        missing += refused
        ctx.cache.heartbeat_mono = ctx.monotonic()  # alive and talking to its device
    return {"fn_serial": fn.fn_serial, "last_fd_number": fn.last_fd_number, "documents": documents, "missing": missing}


async def execute(
    ctx: DeviceContext, action: Action, params: Mapping[str, int] | None = None, actor: str = "admin"
) -> dict[str, Any]:
    """Run an operator action; the driver's errors propagate, :class:`ActionRefused` when the device's state
    makes it pointless (closing a closed shift). Returns what the action read ({} for most). A close by
    the ``close_at`` job (``actor`` :data:`SCHEDULER`) is audited here."""
    if action is Action.READ_DOCUMENTS:
        args = params or {}
        return await read_documents(ctx, args.get("from_fd", 1), args.get("to_fd", 0))
    if action is Action.SET_CLOCK:
        return await set_clock(ctx)
    if action in (Action.RESOLVE_EVIDENCE, Action.RESOLVE):
        from kkt_adapter.pipeline import operator_resolve

        if action is Action.RESOLVE_EVIDENCE:
            return await operator_resolve.evidence(ctx)
        args = params or {}
        seq, fd_number, sign = args.get("seq", 0), args.get("fd_number", 0), args.get("fiscal_sign", 0)
        return await operator_resolve.decide(ctx, seq, fd_number, actor, sign)
    if action is Action.READ_OFD_LINK:
        link = await ctx.io(ctx.driver.ofd_link)
        return {"exchange_mode": link.exchange_mode, "host": link.host, "port": link.port}
    if action is Action.OPEN_SHIFT:
        await _require_shift(ctx, is_open=False)
        await open_shift(ctx)
    elif action is Action.CLOSE_SHIFT:
        await _require_shift(ctx, is_open=True)
        scheduled = actor == SCHEDULER
        await close_shift(
            ctx, "shift.close_at" if scheduled else f"{actor} ({action.value})", actor if scheduled else None
        )
    elif action is Action.X_REPORT:
        await ctx.io(ctx.driver.x_report)
    else:
        await ctx.io(ctx.driver.continue_printing)
        await mark_printed(ctx)
    return {}
