"""Exactly-once rule 1 in one place: which FN read a receipt's intent records, and which status it prints in.

The intent (the FN's last FD number, committed as ``printing`` before the first receipt command) must
be read *after* the previous receipt closed and with *no driver call* between that read and the receipt:
then any FN document after the intent belongs to this receipt. :class:`IntentReader` is the only code
that hands out that read:

* :meth:`IntentReader.intent` returns the FN status read ahead (while the last result committed) if no
  driver call of any kind started since, else reads the FN now;
* :meth:`IntentReader.after_receipt` makes that read ahead, together with the query for the next
  receipt, while the last result commits;
* :meth:`IntentReader.status` reuses, for :data:`STATUS_REUSE_S`, the status a receipt went through in
  (a changed state only makes the next receipt fail *before* its close, which is safe), else polls.

What was read ahead is good for one turn of the worker only (:meth:`IntentReader.begin_turn`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.kkt.errors import KktError
from kkt_adapter.kkt.types import DeviceStatus, FnStatus, Mode, SubMode
from kkt_adapter.pipeline.context import DeviceContext

log = logging.getLogger("kkt_adapter.pipeline")

STATUS_REUSE_S = 1.0


@dataclass(frozen=True)
class Ahead:
    """The oldest ``accepted`` receipt and the FN status, read while the last receipt's result committed.

    ``fn`` may stand for the intent's FN read only while :meth:`fresh`: no driver call was started since
    (``device_calls`` is the device's call counter at the read). ``begin_printing`` refuses a receipt that
    changed state meanwhile.
    """

    receipt: StoredReceipt
    fn: FnStatus
    device_calls: int

    def fresh(self, ctx: DeviceContext) -> bool:
        """True while no driver call was started on ``ctx`` since this was read."""
        return ctx.device_calls == self.device_calls


async def look_ahead(ctx: DeviceContext) -> Ahead | None:
    """The next receipt of the device and the FN status for its intent, read together, or None (none waiting,
    or the FN read failed: the next turn meets the same error on its own). An idle device's FN is read once
    at the end of a burst: harmless."""
    rows = asyncio.ensure_future(ctx.store.of_device(ctx.device.id, (ReceiptState.ACCEPTED,), 1))
    try:
        fn: FnStatus | None = await ctx.io(ctx.driver.fn_status)
    except KktError as exc:
        log.debug("device %s: reading the FN ahead failed: %s", ctx.device.id, exc)
        fn = None
    finally:
        waiting = await rows
    if fn is None or not waiting:
        return None
    return Ahead(waiting[0], fn, ctx.device_calls)


class IntentReader:
    """The intent's FN read and the status reuse of one device (one per worker)."""

    def __init__(self, ctx: DeviceContext) -> None:
        self.ctx = ctx
        self._next: Ahead | None = None  # set by after_receipt, taken by begin_turn
        self._ahead: Ahead | None = None  # this turn's
        self._status: DeviceStatus | None = None
        self._status_until_mono = 0.0

    def begin_turn(self) -> None:
        """Start a worker turn: what was read ahead is usable in this turn only."""
        self._ahead, self._next = self._next, None

    def forget(self) -> None:
        """Drop everything read ahead (after an error: the next turn reads afresh)."""
        self._ahead = self._next = None
        self._status = None

    async def status(self) -> DeviceStatus:
        """The device status: the one a receipt just went through in (for a short while), else polled."""
        reused, self._status = self._status, None
        if reused is not None and self.ctx.monotonic() < self._status_until_mono:
            return reused
        return await self.ctx.poll()

    async def next_receipt(self) -> StoredReceipt | None:
        """The oldest ``accepted`` receipt of the device (the one read ahead while it is fresh)."""
        ahead = self._ahead
        if ahead is not None and ahead.fresh(self.ctx):
            return ahead.receipt
        self._ahead = None
        rows = await self.ctx.store.of_device(self.ctx.device.id, (ReceiptState.ACCEPTED,), 1)
        return rows[0] if rows else None

    async def intent(self) -> FnStatus:
        """The FN status whose last FD number is the intent of the receipt printed next, with no driver
        call between it and the receipt's first command (rule 1). Call right before printing."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead.fresh(self.ctx):
            return ahead.fn
        return await self.ctx.io(self.ctx.driver.fn_status)

    async def after_receipt(self, commit: Awaitable[object], status: DeviceStatus) -> None:
        """While ``commit`` (the receipt's result) runs, read ahead for the next receipt; await the commit
        before returning. ``status``, the one the receipt went through in, is reused for a moment if the
        device is ready for the next receipt."""
        commit_task = asyncio.ensure_future(commit)
        try:
            self._next = await look_ahead(self.ctx)
        finally:
            await commit_task
        if status.mode is Mode.SHIFT_OPEN and status.sub_mode is SubMode.PAPER_OK:
            self._status, self._status_until_mono = status, self.ctx.monotonic() + STATUS_REUSE_S
