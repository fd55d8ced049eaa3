"""One receipt on the device: intent, the rates check at the device's date, fiscalize, record the outcome.

Exactly-once rules 2 and 3 live here (rule 1, the intent's FN read, in :mod:`.intent`):

* any failure that may have reached the close command leaves the receipt ``unknown``: only the FN
  archive decides it (:mod:`.recovery`), it is never sent again before that;
* a device *state* error before the close proves the receipt was not fiscalized: the open receipt is
  cancelled and the receipt goes back to ``accepted``; a *refusal* of its content makes it ``rejected``.

The VAT rates are checked against the device's date just before the first receipt command (the FN
date of the intent's read, to the minute, and :data:`RATES_MARGIN` later, which covers that precision and
the printing): a receipt accepted before a rate change and printed after it is ``rejected`` with the
reason, never fiscalized at another rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from kkt_adapter.buffer.records import FiscalRecord, StoredReceipt
from kkt_adapter.kkt.errors import DeviceRejected, DeviceStateError, KktError, OutcomeUnknown
from kkt_adapter.kkt.types import DeviceStatus, FiscalResult, FnStatus, Mode
from kkt_adapter.pipeline.cashier import with_default_cashier
from kkt_adapter.pipeline.context import DeviceContext
from kkt_adapter.pipeline.intent import IntentReader
from kkt_adapter.receipts.model import ReceiptIn, TaxSystem
from kkt_adapter.receipts.rules import check_vat

log = logging.getLogger("kkt_adapter.pipeline")

RATES_MARGIN = timedelta(minutes=2)  # FF01's date-time has minutes only, and a receipt takes seconds


class Outcome(Enum):
    """How one attempt ended, for the worker's next step."""

    FISCALIZED = "fiscalized"
    REJECTED = "rejected"  # terminal: the POS must send a corrected receipt
    DEVICE_STATE = "device-state"  # back to accepted: wait for the state to be fixed
    UNKNOWN = "unknown"  # only the FN decides now


@dataclass(frozen=True)
class Attempt:
    """The outcome, the device error behind it, and a content refusal the FN must first prove unsigned."""

    outcome: Outcome
    error: KktError | None = None
    close_refusal: DeviceRejected | None = None


def rates_problem(receipt: ReceiptIn, tax_system: TaxSystem, device_now: datetime) -> str | None:
    """Why the receipt's VAT rates cannot be fiscalized at the device's date ``device_now``, or None (pure).

    The rates must be valid on the date of ``device_now`` and on that of ``device_now + RATES_MARGIN``.
    """
    for when in (device_now, device_now + RATES_MARGIN):
        problems = check_vat(receipt, tax_system, when.date())
        if problems:
            first = problems[0]
            return (
                f"VAT rate not valid at print time: {first.field}: {first.reason} (device date "
                f"{device_now:%Y-%m-%d %H:%M}); send the receipt again with the rates of that date"
            )
    return None


async def print_receipt(
    ctx: DeviceContext,
    reader: IntentReader,
    stored: StoredReceipt,
    status: DeviceStatus,
    refused: DeviceRejected | None,
) -> Attempt:
    """Record the intent, check the rates, fiscalize ``stored`` (the device in ``status``), record what happened.
    ``refused``: its content was refused at the close last time and the FN proved it unsigned: rejected now."""
    fn = await reader.intent()
    await ctx.store.begin_printing(stored.key, fn.last_fd_number, fn.fn_serial)
    if await _refused_before_sending(ctx, stored, fn, refused):
        return Attempt(Outcome.REJECTED)
    started = ctx.monotonic()
    try:
        receipt = with_default_cashier(stored.receipt, ctx.device)
        result = await ctx.io(ctx.driver.fiscalize, receipt, stored.tax_system)
    except KktError as exc:
        return await _failed(ctx, stored.key, exc)
    await reader.after_receipt(_commit(ctx, stored.key, result, fn), status)
    _observe(ctx, ctx.monotonic() - started)
    return Attempt(Outcome.FISCALIZED)


async def _refused_before_sending(
    ctx: DeviceContext, stored: StoredReceipt, fn: FnStatus, refused: DeviceRejected | None
) -> bool:
    """Reject the receipt (True) when it must not be sent: refused at the close before, or its VAT rates are
    not valid at the FN's date."""
    if refused is not None:
        await ctx.store.mark_rejected(stored.key, refused.code, f"{refused.text} (refused at the close)")
        return True
    problem = rates_problem(stored.receipt, stored.tax_system, fn.fn_datetime)
    if problem is None:
        return False
    log.warning("device %s: %s rejected: %s", ctx.device.id, stored.key, problem)
    await ctx.store.mark_rejected(stored.key, None, problem)
    return True


async def _failed(ctx: DeviceContext, key: str, exc: KktError) -> Attempt:
    """Record a failed attempt by what the error proves (rules 2 and 3)."""
    if isinstance(exc, DeviceRejected):
        await ctx.store.mark_rejected(key, exc.code, exc.text)
        ctx.note_error(exc.text, exc.code)
        await cancel_quietly(ctx)
        return Attempt(Outcome.REJECTED, exc)
    if isinstance(exc, DeviceStateError):
        await ctx.store.back_to_accepted(key, f"not fiscalized, device state: {exc.text}")
        await cancel_quietly(ctx)
        return Attempt(Outcome.DEVICE_STATE, exc)
    # OutcomeUnknown, or a link/protocol failure: the FN decides
    refusal = exc.cause if isinstance(exc, OutcomeUnknown) and isinstance(exc.cause, DeviceRejected) else None
    await ctx.store.mark_unknown(key, f"outcome unknown: {exc}")
    ctx.note_error(f"исход чека неизвестен, сверка с ФН / outcome unknown: {exc}", metric="unknown")
    return Attempt(Outcome.UNKNOWN, exc, refusal)


async def _commit(ctx: DeviceContext, key: str, result: FiscalResult, fn: FnStatus) -> None:
    record = FiscalRecord(
        fd_number=result.fd_number,
        fiscal_sign=result.fiscal_sign,
        fiscal_datetime=ctx.local(result.fiscal_datetime),
        shift_number=result.shift_number,
        receipt_number=result.receipt_number,
        fn_serial=fn.fn_serial,
        registration_number=ctx.cache.registration_number or "",
    )
    ctx.cache.saw_document(record.fiscal_datetime)
    await ctx.store.mark_fiscalized(key, record, False, f"fiscalized: FD {result.fd_number}")


def _observe(ctx: DeviceContext, seconds: float) -> None:
    ctx.cache.heartbeat_mono = ctx.monotonic()
    ctx.clear_error()
    if ctx.hooks.observe_fiscalization is not None:
        ctx.hooks.observe_fiscalization(seconds)
    if ctx.hooks.on_fiscalized is not None:
        ctx.hooks.on_fiscalized()


async def cancel_quietly(ctx: DeviceContext) -> None:
    """Cancel a receipt left open, if any; a failure is left to the next turn (it cancels first)."""
    try:
        status = await ctx.poll()
        if status.mode is Mode.OPEN_DOCUMENT:
            await ctx.io(ctx.driver.cancel_receipt)
    except KktError as exc:
        log.warning("device %s: cancelling the open receipt failed: %s", ctx.device.id, exc)
