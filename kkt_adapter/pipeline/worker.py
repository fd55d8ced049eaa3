"""The print worker of one device: the only code that talks to its KKT.

Each cycle, in this order: connect if needed → poll the status → resolve unknown outcomes (the
queue stays halted until every one is decided) → run one queued operator action → finish an
interrupted paper copy → FN watch when due → close the shift when due → print the oldest ``accepted``
receipt. Exactly-once rests on three rules:

1. the intent (FN last FD) is committed (``printing``) before the first receipt command is sent; the
   FN is read after the previous receipt closed and with no driver call between that read and the
   receipt (the read is made while the previous result commits: :class:`~.context.Ahead`);
2. any failure that may have reached the close command leaves the receipt ``unknown`` and only the FN
   archive decides it (:mod:`.recovery`); it is never sent again before that;
3. a device *state* error (paper, cover, shift, FN block, busy) before the close proves the receipt was
   not fiscalized: the open receipt is cancelled and the receipt goes back to ``accepted``.

A lost port is retried forever with a bounded backoff; device states are polled with a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kkt_adapter.buffer.records import FiscalRecord, StoredReceipt
from kkt_adapter.buffer.states import ReceiptState
from kkt_adapter.kkt.errors import (
    DeviceError,
    DeviceRejected,
    DeviceStateError,
    FnOfdBlocked,
    KktError,
    LinkError,
    OutcomeUnknown,
    ProtocolError,
)
from kkt_adapter.kkt.types import DeviceStatus, Mode, SubMode
from kkt_adapter.pipeline import actions, ticket_relay, watch
from kkt_adapter.pipeline.commands import Action, Command, DeviceUnavailable
from kkt_adapter.pipeline.context import Ahead, DeviceContext, look_ahead
from kkt_adapter.pipeline.policy import Backoff, blocking_problem, close_due
from kkt_adapter.pipeline.recovery import recover

log = logging.getLogger("kkt_adapter.pipeline")

IDLE_POLL_S = 2.0
# After a receipt went through, the status it was printed in is reused for this long instead of a new
# 10h poll (a changed state only makes the next receipt fail *before* its close, which is safe).
STATUS_REUSE_S = 1.0


class DeviceWorker:
    """Owns one device (through ``ctx``); run :meth:`run` as one task; :meth:`wake` when work may be waiting."""

    def __init__(self, ctx: DeviceContext, fn_watch_interval_s: float) -> None:
        self.ctx = ctx
        self.fn_watch_interval_s = fn_watch_interval_s
        self._wake = asyncio.Event()
        self._commands: list[Command] = []
        self._stopping = False
        self._link_backoff = Backoff(0.05, 2.0)
        self._state_backoff = Backoff(0.1, 2.0)
        self._fn_due_mono = 0.0
        self._maybe_unresolved = True
        self._maybe_incomplete = True
        self._close_refusal: tuple[str, DeviceRejected] | None = None
        self._good_status: DeviceStatus | None = None
        self._good_until_mono = 0.0
        self._ahead: Ahead | None = None

    # --- control from the loop ---------------------------------------------------------------------

    def wake(self) -> None:
        """Make the worker look for work now (never blocks)."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current step, then leave :meth:`run`."""
        self._stopping = True
        self._wake.set()

    def submit(self, action: Action, actor: str, params: dict[str, int] | None = None) -> Command:
        """Queue an operator action; raises :class:`DeviceUnavailable` when the device is not connected."""
        if self._stopping or not self.ctx.cache.connected:
            raise DeviceUnavailable(f"device {self.ctx.device.id} is not connected")
        command = Command(action, actor, dict(params or {}))
        self._commands.append(command)
        self._wake.set()
        return command

    # --- the loop ----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the device until :meth:`stop`; never raises (errors are recorded in the cache)."""
        ctx = self.ctx
        while not self._stopping:
            try:
                delay = await self._cycle()
                self._link_backoff.reset()
            except (LinkError, ProtocolError) as exc:
                self._maybe_unresolved = True  # a receipt may have been left ``printing``: check first
                delay = await self._lost(exc)
            except DeviceError as exc:
                self._maybe_unresolved = True
                self._device_error(exc)
                delay = self._state_backoff.next()
            except Exception:  # a bug or a storage failure must not kill the device's worker
                self._maybe_unresolved = True
                log.exception("device %s: worker cycle failed", ctx.device.id)
                ctx.cache.last_error = "internal error (see the log)"
                delay = self._state_backoff.next()
            if delay > 0 and not self._stopping:
                await self._idle(delay)
        self._fail_commands("the worker stopped")

    def _device_error(self, exc: DeviceError) -> None:
        if isinstance(exc, FnOfdBlocked):
            self.ctx.cache.fn_blocked = True
        self.ctx.note_error(exc.text, exc.code)

    async def _status(self) -> DeviceStatus:
        """The device status: reused right after a receipt went through, else polled (10h)."""
        good, self._good_status = self._good_status, None
        if good is not None and self.ctx.monotonic() < self._good_until_mono:
            return good
        return await self.ctx.poll()

    async def _idle(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay_s)
        self._wake.clear()

    async def _lost(self, exc: KktError) -> float:
        ctx = self.ctx
        if ctx.cache.connected:
            log.warning("device %s: link lost: %s", ctx.device.id, exc)
        ctx.cache.connected = False
        ctx.note_error(f"Нет связи с кассой / link error: {exc}", metric="link")
        self._fail_commands(f"device {ctx.device.id} is not connected")
        try:
            await ctx.io(ctx.driver.close)
        except KktError:
            log.debug("closing the port failed", exc_info=True)
        return self._link_backoff.next()

    def _fail_commands(self, reason: str) -> None:
        commands, self._commands = self._commands, []
        for command in commands:
            if not command.future.done():
                command.future.set_exception(DeviceUnavailable(reason))

    async def _cycle(self) -> float:
        ctx = self.ctx
        ahead, self._ahead = self._ahead, None  # good for this cycle only, and only while fresh
        if not ctx.cache.connected:
            await watch.identify(ctx)
            self._fn_due_mono = 0.0
            self._maybe_unresolved = True
        status = await self._status()
        if self._maybe_unresolved:
            if not await recover(ctx):
                if self._commands:  # operator actions make no receipt document: safe while halted
                    await self._run_command(self._commands.pop(0))
                return self._state_backoff.next()
            self._maybe_unresolved = False
            self._maybe_incomplete = True
            status = await ctx.poll()
        if self._commands:
            await self._run_command(self._commands.pop(0))
            return 0.0
        if await self._finish_prints(status):
            return 0.0
        if ctx.monotonic() >= self._fn_due_mono:
            await watch.fn_watch(ctx)
            self._fn_due_mono = ctx.monotonic() + self.fn_watch_interval_s
        if await self._close_if_due(status):
            return 0.0
        if ahead is not None and ahead.fresh(ctx):
            rows = ahead.rows
        else:
            ahead, rows = None, await ctx.store.of_device(ctx.device.id, (ReceiptState.ACCEPTED,), 1)
        if (not rows or ctx.cache.fn_blocked) and await ticket_relay.relay_tickets(ctx):
            return 0.0  # OFD tickets written into the FN between receipts (the way out of an FN block)
        if not rows:
            if blocking_problem(status) is None:
                ctx.clear_error()
            self._state_backoff.reset()
            return IDLE_POLL_S
        problem = await self._prepare(status)
        if problem is not None:
            ctx.note_error(problem)
            return self._state_backoff.next()
        delay = await self._print(rows[0], ahead)
        clean = delay == 0.0 and ctx.cache.last_error is None and not self._maybe_unresolved
        if clean and status.mode is Mode.SHIFT_OPEN and status.sub_mode is SubMode.PAPER_OK:
            self._good_status, self._good_until_mono = status, ctx.monotonic() + STATUS_REUSE_S
        return delay

    # --- a receipt ---------------------------------------------------------------------------------

    async def _prepare(self, status: DeviceStatus) -> str | None:
        """Bring the device to "shift open, no document"; the reason it cannot be done, or None."""
        ctx = self.ctx
        problem = blocking_problem(status)
        if problem is not None:
            return problem
        if status.mode is Mode.OPEN_DOCUMENT:
            log.info("device %s: cancelling a receipt left open", ctx.device.id)
            await ctx.io(ctx.driver.cancel_receipt)
            status = await ctx.poll()
        if status.mode is Mode.SHIFT_EXPIRED:
            await actions.close_shift(ctx, "the shift is over 24 hours")
            status = await ctx.poll()
        if status.mode is Mode.SHIFT_CLOSED:
            if not ctx.shift.auto_open:
                return "Смена закрыта: откройте смену / the shift is closed (auto_open is off)"
            await actions.open_shift(ctx)
            status = await ctx.poll()
        if status.mode is not Mode.SHIFT_OPEN:
            return f"Касса не готова (режим {status.mode.name}) / device not ready, mode {status.mode.name}"
        return None

    async def _print(self, stored: StoredReceipt, ahead: Ahead | None) -> float:
        ctx = self.ctx
        # the intent's FN read: the one made right after the last receipt, if no driver call came since
        fn = ahead.fn if ahead is not None and ahead.fresh(ctx) else await ctx.io(ctx.driver.fn_status)
        await ctx.store.begin_printing(stored.key, fn.last_fd_number)
        refusal, self._close_refusal = self._close_refusal, None
        if refusal is not None and refusal[0] == stored.key:
            # The device refused its content at the close and the FN proved it was not signed: do not
            # send it again (it would be refused again, forever).
            exc = refusal[1]
            await ctx.store.mark_rejected(stored.key, exc.code, f"{exc.text} (refused at the close)")
            return 0.0
        started = ctx.monotonic()
        try:
            result = await ctx.io(ctx.driver.fiscalize, stored.receipt, stored.tax_system)
        except DeviceRejected as exc:
            await ctx.store.mark_rejected(stored.key, exc.code, exc.text)
            ctx.note_error(exc.text, exc.code)
            await self._cancel_quietly()
            return 0.0
        except DeviceStateError as exc:
            await ctx.store.back_to_accepted(stored.key, f"not fiscalized, device state: {exc.text}")
            self._device_error(exc)
            await self._cancel_quietly()
            return self._state_backoff.next()
        except KktError as exc:  # OutcomeUnknown, or a link/protocol failure: the FN decides
            self._maybe_unresolved = True
            if isinstance(exc, OutcomeUnknown) and isinstance(exc.cause, DeviceRejected):
                self._close_refusal = (stored.key, exc.cause)
            await ctx.store.mark_unknown(stored.key, f"outcome unknown: {exc}")
            ctx.note_error(f"исход чека неизвестен, сверка с ФН / outcome unknown: {exc}", metric="unknown")
            return 0.0
        record = FiscalRecord(
            fd_number=result.fd_number,
            fiscal_sign=result.fiscal_sign,
            fiscal_datetime=ctx.local(result.fiscal_datetime),
            shift_number=result.shift_number,
            receipt_number=result.receipt_number,
            fn_serial=fn.fn_serial,
            registration_number=ctx.cache.registration_number or "",
        )
        # While the result commits, find the next receipt and read the FN for its intent (the device is
        # idle otherwise); the commit is awaited before anything else, and before the next receipt.
        commit = asyncio.ensure_future(
            ctx.store.mark_fiscalized(stored.key, record, False, f"fiscalized: FD {result.fd_number}")
        )
        try:
            ahead = await look_ahead(ctx)
        finally:
            await commit
        self._ahead = ahead
        ctx.cache.heartbeat_mono = ctx.monotonic()
        self._state_backoff.reset()
        ctx.clear_error()
        if ctx.hooks.observe_fiscalization is not None:
            ctx.hooks.observe_fiscalization(ctx.monotonic() - started)
        if ctx.hooks.on_fiscalized is not None:
            ctx.hooks.on_fiscalized()
        return 0.0

    async def _cancel_quietly(self) -> None:
        ctx = self.ctx
        try:
            status = await ctx.poll()
            if status.mode is Mode.OPEN_DOCUMENT:
                await ctx.io(ctx.driver.cancel_receipt)
        except KktError as exc:  # the next cycle cancels it before anything else
            log.warning("device %s: cancelling the open receipt failed: %s", ctx.device.id, exc)

    async def _finish_prints(self, status: DeviceStatus) -> bool:
        """Send "continue printing" when the device waits for it; mark interrupted copies finished."""
        ctx = self.ctx
        if status.sub_mode is SubMode.WAIT_CONTINUE:
            await ctx.io(ctx.driver.continue_printing)
            await actions.mark_printed(ctx)
            return True
        if self._maybe_incomplete and status.sub_mode is SubMode.PAPER_OK:
            await actions.mark_printed(ctx)  # the device has nothing left to print: the copies are done
            self._maybe_incomplete = False
        return False

    # --- shifts and operator actions ---------------------------------------------------------------

    async def _close_if_due(self, status: DeviceStatus) -> bool:
        ctx = self.ctx
        due = status.mode is Mode.SHIFT_EXPIRED or (
            status.mode is Mode.SHIFT_OPEN
            and close_due(ctx.cache.shift_opened_at, ctx.device_now(), ctx.shift.close_before_limit_min)
        )
        if due and blocking_problem(status) is None:
            await actions.close_shift(ctx, "before the 24-hour limit")
            return True
        return False

    async def _run_command(self, command: Command) -> None:
        ctx = self.ctx
        try:
            extra = await actions.execute(ctx, command.action, command.params)
            status = await ctx.poll()
        except (KktError, ValueError) as exc:  # ValueError: bad action parameters
            if not command.future.done():
                command.future.set_exception(exc)
            if isinstance(exc, LinkError | ProtocolError):
                raise
            return
        if not command.future.done():
            command.future.set_result(
                {
                    "device": ctx.device.id,
                    "action": command.action.value,
                    "ok": True,
                    "mode": status.mode.name.lower(),
                    **extra,
                }
            )
