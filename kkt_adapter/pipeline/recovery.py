"""Resolving unknown outcomes: ask the FN, apply the pure decision of :mod:`.resolve`.

Runs before anything else on a device whenever receipts of it are ``printing`` or ``unknown`` (at
start-up, after a crash, after a timeout or a lost port). Idempotent: if it is interrupted anywhere, the
next run reads the FN again and reaches the same decisions.

A receipt whose intent was read from another FN (the FN was replaced since) is parked, not halted on:
its key and the old FN's serial go into ``cache.parked`` (the page's red problem, ``device resolve``) and
the queue goes on with new receipts.
"""

from __future__ import annotations

import logging

from kkt_adapter.buffer.errors import DocumentTaken
from kkt_adapter.buffer.records import FiscalRecord, StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.kkt.errors import DeviceRejected
from kkt_adapter.kkt.types import FnDocument, Mode
from kkt_adapter.pipeline.context import DeviceContext
from kkt_adapter.pipeline.resolve import (
    Decision,
    Fiscalized,
    NotFiscalized,
    OnOtherFn,
    Undecided,
    Unresolved,
    decide,
    scan_range,
)

log = logging.getLogger("kkt_adapter.pipeline")

MAX_UNRESOLVED = 50
MAX_SCAN = 2000  # FN documents read per resolve run; more than this needs an operator


def unresolved_of(stored: StoredReceipt) -> Unresolved:
    """The decision's view of a buffered receipt."""
    receipt = stored.receipt
    return Unresolved(
        stored.key, stored.intent_last_fd, receipt.operation.tag_1054, receipt.total_kop, stored.intent_fn_serial
    )


async def recover(ctx: DeviceContext) -> bool:
    """Decide every unresolved receipt of the device; True when none is left (the queue may run).

    Raises the driver's errors (link, device) unchanged: the caller reconnects and calls again.
    """
    rows = await ctx.store.of_device(ctx.device.id, (ReceiptState.PRINTING, ReceiptState.UNKNOWN), MAX_UNRESOLVED)
    if not rows:
        ctx.cache.queue_halted, ctx.cache.halt_reason, ctx.cache.halted_since = False, None, None
        ctx.cache.parked = {}
        return True
    ctx.cache.queue_halted = True
    for row in rows:
        if row.state is ReceiptState.PRINTING:
            await ctx.store.mark_unknown(row.key, "outcome unknown: the daemon stopped between intent and answer")
    items = [unresolved_of(row) for row in rows]
    fn = await ctx.io(ctx.driver.fn_status)
    numbers = scan_range(items, fn.last_fd_number, fn.fn_serial)
    if len(numbers) > MAX_SCAN:
        return _halt(ctx, f"{len(numbers)} FN documents since the intent: too many to check automatically")
    documents = await _read_documents(ctx, numbers)
    shift = await ctx.io(ctx.driver.shift_params)
    status = await ctx.poll()
    decisions = decide(items, fn.last_fd_number, documents, shift, status.sub_mode, fn.fn_serial)
    _park(ctx, [d for d in decisions if isinstance(d, OnOtherFn)])
    if any(isinstance(d, NotFiscalized) for d in decisions) and status.mode is Mode.OPEN_DOCUMENT:
        await ctx.io(ctx.driver.cancel_receipt)
    undecided = [reason for d in decisions if (reason := await _apply(ctx, d, fn.fn_serial)) is not None]
    if undecided:
        return _halt(ctx, "; ".join(undecided))
    ctx.cache.queue_halted, ctx.cache.halt_reason, ctx.cache.halted_since = False, None, None
    return True


async def _read_documents(ctx: DeviceContext, numbers: range) -> dict[int, FnDocument]:
    documents: dict[int, FnDocument] = {}
    for number in numbers:
        try:
            documents[number] = await ctx.io(ctx.driver.find_document, number)
        except DeviceRejected as exc:
            log.warning("device %s: FN document %d unreadable: %s", ctx.device.id, number, exc)
    return documents


async def _apply(ctx: DeviceContext, decision: Decision, fn_serial: str) -> str | None:
    """Apply one decision; return the reason when it leaves the receipt undecided."""
    if isinstance(decision, Undecided):
        return f"{decision.key}: {decision.reason}"
    if isinstance(decision, OnOtherFn):
        return None  # parked (see _park): an operator decides
    if isinstance(decision, NotFiscalized):
        await ctx.store.back_to_accepted(decision.key, "resolved: the FN holds no document of it; printing again")
        log.info("device %s: %s was not fiscalized; back in the queue", ctx.device.id, decision.key)
        return None
    return await fiscalize_from_fn(ctx, decision, fn_serial, f"resolved from the FN: FD {decision.document.fd_number}")


async def fiscalize_from_fn(ctx: DeviceContext, decision: Fiscalized, fn_serial: str, reason: str) -> str | None:
    """Record ``decision``'s FN document as the receipt's (the event says ``reason``); the problem, or None."""
    doc = decision.document
    record = FiscalRecord(
        fd_number=doc.fd_number,
        fiscal_sign=doc.fiscal_sign,
        fiscal_datetime=ctx.local(doc.doc_datetime),
        shift_number=decision.shift_number,
        receipt_number=decision.receipt_number,
        fn_serial=ctx.cache.fn_serial or fn_serial,
        registration_number=ctx.cache.registration_number or "",
    )
    try:
        await ctx.store.mark_fiscalized(decision.key, record, decision.print_incomplete, reason)
    except DocumentTaken:
        return f"{decision.key}: FN document {doc.fd_number} already belongs to another receipt"
    log.info("device %s: %s was fiscalized as FD %d (resolved from the FN)", ctx.device.id, decision.key, doc.fd_number)
    if ctx.hooks.on_fiscalized is not None:
        ctx.hooks.on_fiscalized()
    return None


def _park(ctx: DeviceContext, parked: list[OnOtherFn]) -> None:
    """Show the receipts made on a replaced FN (key → old FN serial); logged once per change."""
    now = {d.key: d.old_fn for d in parked}
    if now != ctx.cache.parked:
        for d in parked:
            log.error(
                "device %s: %s was printing on FN %s, the device now holds FN %s: parked for an operator "
                "(kkt-adapter device resolve --device %s)", ctx.device.id, d.key, d.old_fn, d.new_fn, ctx.device.id,
            )  # fmt: skip
    ctx.cache.parked = now


def _halt(ctx: DeviceContext, reason: str) -> bool:
    if ctx.cache.halt_reason != reason:
        log.error("device %s: queue halted, outcome undecided: %s", ctx.device.id, reason)
    if ctx.cache.halted_since is None:
        ctx.cache.halted_since = ctx.clock()  # an operator must decide: see pipeline/operator_resolve.py
    ctx.cache.queue_halted, ctx.cache.halt_reason = True, reason
    return False
