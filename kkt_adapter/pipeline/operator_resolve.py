"""The operator decides what the FN could not prove: evidence, then ``fiscalized FD N`` or ``not printed``.

The automatic resolution (:mod:`.recovery`) halts a device's queue when the FN's answer proves neither
outcome (an FN receipt it cannot match, an FN counter below the intent, too many documents to scan…).
Nothing automatic may then guess. These two actions, run on the device's worker like every operator
action, let a person who looked at the paper and the FN decide:

- :func:`evidence`: the halt's reason, every unresolved receipt (key, state, total, operation, the FN's
  last FD when printing began) and the FN documents after the earliest intent (at most
  ``EVIDENCE_DOCUMENTS``), each with type, sum and fiscal sign;
- :func:`decide`: for one receipt (by its buffer ``seq``), ``fd_number > 0``: the FN document with that
  number is this receipt's (it must be a receipt document of the same sum and not taken by another
  receipt, else refused with the facts); ``fd_number == 0``: it was not printed: back to ``accepted``, it
  prints again. Either is a chained transition naming the actor; the route audits the action too.

A receipt whose intent was made on an FN that was replaced since (:class:`~.resolve.OnOtherFn`, parked: the
queue runs meanwhile) cannot be checked against the connected FN: ``fd_number > 0`` then also needs the
fiscal sign (``fiscal_sign``, the ФП on the paper receipt or in the OFD's cabinet) and records that
document on the *old* FN (its serial from the intent, its time the time printing began); ``0``: not printed,
it prints on the new FN.
Afterwards the queue runs again and the automatic resolution looks at what is left.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kkt_adapter.buffer.errors import DocumentTaken
from kkt_adapter.buffer.records import FiscalRecord, StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.kkt.errors import DeviceRejected
from kkt_adapter.pipeline.actions import document_json
from kkt_adapter.pipeline.commands import ActionRefused
from kkt_adapter.pipeline.context import DeviceContext
from kkt_adapter.pipeline.recovery import MAX_UNRESOLVED, fiscalize_from_fn
from kkt_adapter.pipeline.resolve import Fiscalized

EVIDENCE_DOCUMENTS = 20
RECEIPT_DOC_TYPE = 3
UNRESOLVED = (ReceiptState.PRINTING, ReceiptState.UNKNOWN)


async def _unresolved(ctx: DeviceContext) -> list[StoredReceipt]:
    return await ctx.store.of_device(ctx.device.id, UNRESOLVED, MAX_UNRESOLVED)


async def evidence(ctx: DeviceContext) -> dict[str, Any]:
    """What the operator needs to decide (read only: nothing is changed)."""
    rows = await _unresolved(ctx)
    fn = await ctx.io(ctx.driver.fn_status)
    intents = [row.intent_last_fd for row in rows if row.intent_last_fd is not None]
    first = (min(intents) + 1) if intents else max(1, fn.last_fd_number - EVIDENCE_DOCUMENTS + 1)
    last = min(fn.last_fd_number, first + EVIDENCE_DOCUMENTS - 1)
    documents, missing = [], []
    for number in range(first, last + 1):
        try:
            documents.append(document_json(await ctx.io(ctx.driver.find_document, number)))
        except DeviceRejected:
            missing.append(number)
    return {
        "device": ctx.device.id,
        "halted": ctx.cache.queue_halted,
        "halt_reason": ctx.cache.halt_reason,
        "fn_serial": fn.fn_serial,
        "fn_last_fd": fn.last_fd_number,
        "receipts": [
            {
                "key": row.key,
                "seq": row.seq,
                "state": row.state.value,
                "total_kop": row.receipt.total_kop,
                "operation": row.receipt.operation.value,
                "intent_last_fd": row.intent_last_fd,
                "intent_fn_serial": row.intent_fn_serial,
                "on_replaced_fn": _on_replaced_fn(row, fn.fn_serial),
            }
            for row in rows
        ],
        "documents": documents,
        "missing": missing,
    }


def _on_replaced_fn(row: StoredReceipt, fn_serial: str) -> bool:
    return row.intent_fn_serial is not None and row.intent_fn_serial != fn_serial


async def decide(ctx: DeviceContext, seq: int, fd_number: int, actor: str, fiscal_sign: int = 0) -> dict[str, Any]:
    """Apply the operator's decision for the unresolved receipt ``seq`` (see the module docstring)."""
    row = next((r for r in await _unresolved(ctx) if r.seq == seq), None)
    if row is None:
        raise ActionRefused(f"no unresolved receipt #{seq} on {ctx.device.id}: nothing to decide")
    if fd_number == 0:
        await ctx.store.back_to_accepted(row.key, f"resolved by {actor}: not printed; printing again")
        outcome: dict[str, Any] = {"key": row.key, "decision": "not printed"}
    else:
        fn = await ctx.io(ctx.driver.fn_status)
        if _on_replaced_fn(row, fn.fn_serial):
            outcome = await _fiscalized_on_old_fn(ctx, row, fd_number, fiscal_sign, actor)
        else:
            outcome = await _fiscalized(ctx, row, fd_number, actor)
    ctx.cache.queue_halted, ctx.cache.halt_reason, ctx.cache.halted_since = False, None, None
    ctx.cache.parked.pop(row.key, None)
    return outcome


async def _fiscalized_on_old_fn(
    ctx: DeviceContext, row: StoredReceipt, fd_number: int, fiscal_sign: int, actor: str
) -> dict[str, Any]:
    """Record FD ``fd_number`` of the replaced FN (not readable here) as the receipt's, on the operator's word."""
    old_fn = row.intent_fn_serial or ""
    if fiscal_sign <= 0:
        raise ActionRefused(
            f"{row.key} was printing on FN {old_fn}, which was replaced: its FD {fd_number} cannot be read here; "
            "give the fiscal sign (ФП) printed on the receipt or shown in the OFD's cabinet (fiscal_sign)"
        )
    record = FiscalRecord(
        fd_number=fd_number,
        fiscal_sign=fiscal_sign,
        fiscal_datetime=await _printing_began(ctx, row),
        shift_number=None,
        receipt_number=None,
        fn_serial=old_fn,
        registration_number=ctx.cache.registration_number or "",
    )
    reason = f"resolved by {actor}: FD {fd_number} on the replaced FN {old_fn}"
    try:
        await ctx.store.mark_fiscalized(row.key, record, False, reason)
    except DocumentTaken as exc:
        raise ActionRefused(f"FD {fd_number} of FN {old_fn} already belongs to another receipt") from exc
    if ctx.hooks.on_fiscalized is not None:
        ctx.hooks.on_fiscalized()
    return {"key": row.key, "decision": "fiscalized", "fd_number": fd_number, "fn_serial": old_fn}


async def _printing_began(ctx: DeviceContext, row: StoredReceipt) -> datetime:
    """When the receipt last went ``printing`` (its intent), the nearest time known of the old FN's document."""
    began = [e.at for e in await ctx.store.events_of(row.key) if e.to_state == "printing"]
    return began[-1] if began else row.updated_at


async def _fiscalized(ctx: DeviceContext, row: StoredReceipt, fd_number: int, actor: str) -> dict[str, Any]:
    fn = await ctx.io(ctx.driver.fn_status)
    if fd_number > fn.last_fd_number:
        raise ActionRefused(f"the FN's last document is FD {fn.last_fd_number}: FD {fd_number} does not exist")
    document = await ctx.io(ctx.driver.find_document, fd_number)
    facts = document_json(document)
    if document.doc_type != RECEIPT_DOC_TYPE or document.sum_kop != row.receipt.total_kop:
        raise ActionRefused(f"FD {fd_number} is not a receipt of {row.receipt.total_kop} kop: {facts}")
    decision = Fiscalized(row.key, document, None, None, print_incomplete=False)
    problem = await fiscalize_from_fn(ctx, decision, fn.fn_serial, f"resolved by {actor}: FD {fd_number}")
    if problem is not None:
        raise ActionRefused(problem)
    return {"key": row.key, "decision": "fiscalized", "fd_number": fd_number, "document": facts}
