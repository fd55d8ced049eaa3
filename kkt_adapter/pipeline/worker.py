"""The print worker of one device: the only code that talks to its KKT, a thin I/O loop over pure decisions.

Each turn the worker reads the status, then asks :func:`.step.next_step` what to do (the order is the
table there: connect, resolve unknown outcomes, an operator action, unfinished prints, FN watch, shift
close, the OFD relay, then the oldest ``accepted`` receipt) and does it. Exactly-once rests on three
rules: the intent's FN read (:mod:`.intent`, rule 1), "a failure that may have reached the close leaves
the receipt ``unknown`` for the FN to decide" and "a device state error before the close puts it back"
(:mod:`.printing`, rules 2 and 3; :mod:`.recovery` decides).

A lost port is retried forever with a bounded backoff; device states are polled with a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from kkt_adapter.buffer.records import StoredReceipt
from kkt_adapter.kkt.errors import DeviceError, DeviceRejected, FnOfdBlocked, KktError, LinkError, ProtocolError
from kkt_adapter.kkt.types import DeviceStatus, Mode
from kkt_adapter.pipeline import actions, relay, watch
from kkt_adapter.pipeline.commands import Action, ActionRefused, Command, DeviceUnavailable
from kkt_adapter.pipeline.context import DeviceContext
from kkt_adapter.pipeline.intent import IntentReader
from kkt_adapter.pipeline.policy import Backoff, blocking_problem, close_due
from kkt_adapter.pipeline.printing import Outcome, print_receipt
from kkt_adapter.pipeline.recovery import recover
from kkt_adapter.pipeline.step import Flags, Step, StepKind, next_step

log = logging.getLogger("kkt_adapter.pipeline")

IDLE_POLL_S = 2.0
MAX_STEPS_PER_TURN = 16  # each step that does not end the turn changes a flag, so a turn has far fewer
AGAIN = None  # a step's result: decide again on the same status (nothing changed on the device)


@dataclass
class _Turn:
    """What one turn learnt: a resolve left a receipt undecided, the relay had nothing to do."""

    halted: bool = False
    relay_tried: bool = False


class DeviceWorker:
    """Owns one device (through ``ctx``); run :meth:`run` as one task; :meth:`wake` when work may be waiting."""

    def __init__(self, ctx: DeviceContext, fn_watch_interval_s: float, relay_ofd: bool = True) -> None:
        self.ctx = ctx
        self.relay_ofd = relay_ofd  # ofd.mode = relay: the host relays the FN's messages (pipeline/relay.py)
        self.fn_watch_interval_s = fn_watch_interval_s
        self.reader = IntentReader(ctx)
        self._wake = asyncio.Event()
        self._commands: list[Command] = []
        self._stopping = False
        self._link_backoff = Backoff(0.05, 2.0)
        self._state_backoff = Backoff(0.1, 2.0)
        self._fn_due_mono = 0.0
        self._maybe_unresolved = True  # a receipt may have been left printing/unknown
        self._maybe_incomplete = True  # paper copies may be unfinished
        self._close_refusal: tuple[str, DeviceRejected] | None = None

    # --- control from the loop ---------------------------------------------------------------------

    def wake(self) -> None:
        """Make the worker look for work now (never blocks); a disconnected worker keeps to its link backoff
        (a new receipt does not make the port come back, and retrying on every commit costs the intake)."""
        if self.ctx.cache.connected:
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
                delay = await self._turn()
                self._link_backoff.reset()
            except (LinkError, ProtocolError) as exc:
                self.reader.forget()
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

    # --- one turn: decide, do, until a step ends the turn -------------------------------------------

    async def _turn(self) -> float:
        """Read the status, then do steps until one ends the turn; the delay before the next turn."""
        self.reader.begin_turn()
        status = await self.reader.status() if self.ctx.cache.connected else None
        turn = _Turn()
        for _ in range(MAX_STEPS_PER_TURN):
            receipt = await self.reader.next_receipt() if status is not None else None
            step = next_step(status, self._flags(turn, receipt))
            delay = await self._do(step, status, receipt, turn)
            if delay is not AGAIN:
                return delay
            if step.kind in (StepKind.CONNECT, StepKind.RESOLVE) and not turn.halted:
                status = await self.ctx.poll()
        return 0.0  # a turn's steps are bounded; the next turn goes on

    def _flags(self, turn: _Turn, receipt: StoredReceipt | None) -> Flags:
        ctx, cache = self.ctx, self.ctx.cache
        return Flags(
            connected=cache.connected,
            maybe_unresolved=self._maybe_unresolved,
            halted=turn.halted,
            command_waiting=bool(self._commands),
            maybe_incomplete=self._maybe_incomplete,
            fn_watch_due=ctx.monotonic() >= self._fn_due_mono,
            close_due=close_due(cache.shift_opened_at, ctx.device_now(), ctx.shift.close_before_limit_min),
            receipt_waiting=receipt is not None,
            fn_blocked=cache.fn_blocked,
            relay_tried=turn.relay_tried,
            auto_open=ctx.shift.auto_open,
        )

    async def _do(
        self, step: Step, status: DeviceStatus | None, receipt: StoredReceipt | None, turn: _Turn
    ) -> float | None:
        """Do ``step``; the delay that ends the turn, or :data:`AGAIN`."""
        kind = step.kind
        if kind is StepKind.CONNECT:
            return await self._connect()
        if kind is StepKind.RESOLVE:
            return await self._resolve(turn)
        if kind is StepKind.HALTED:
            return self._state_backoff.next()
        if kind is StepKind.COMMAND:
            await self._run_command(self._commands.pop(0))
            return self._state_backoff.next() if turn.halted else 0.0
        if kind is StepKind.RELAY:
            turn.relay_tried = not self.relay_ofd or status is None or not await relay.relay_step(self.ctx, status)
            return AGAIN if turn.relay_tried else 0.0
        if status is None:  # every other step has a status (next_step connects first)
            raise AssertionError(step)
        if kind is StepKind.PRINT and receipt is not None:
            return await self._print(receipt, status)
        return await self._device_step(step, status)

    async def _device_step(self, step: Step, status: DeviceStatus) -> float | None:
        """The steps that bring the device to "ready for the next receipt", or wait."""
        ctx, kind = self.ctx, step.kind
        if kind is StepKind.CONTINUE_PRINTING:
            await ctx.io(ctx.driver.continue_printing)
            await actions.mark_printed(ctx)
        elif kind is StepKind.MARK_PRINTED:
            await actions.mark_printed(ctx)  # the device has nothing left to print: the copies are done
            self._maybe_incomplete = False
            return AGAIN
        elif kind is StepKind.FN_WATCH:
            await watch.fn_watch(ctx)
            self._fn_due_mono = ctx.monotonic() + self.fn_watch_interval_s
            return AGAIN
        elif kind is StepKind.CLOSE_SHIFT:
            expired = status.mode is Mode.SHIFT_EXPIRED
            why = "the shift is over 24 hours" if expired else "before the 24-hour limit"
            await actions.close_shift(ctx, why, audit_actor="pipeline")
        elif kind is StepKind.CANCEL_OPEN:
            log.info("device %s: cancelling a receipt left open", ctx.device.id)
            await ctx.io(ctx.driver.cancel_receipt)
        elif kind is StepKind.OPEN_SHIFT:
            await actions.open_shift(ctx)
        elif kind is StepKind.IDLE:
            if blocking_problem(status) is None:
                ctx.clear_error()
            self._state_backoff.reset()
            return IDLE_POLL_S
        else:  # WAIT
            ctx.note_error(step.reason or "device not ready")
            return self._state_backoff.next()
        return 0.0

    async def _connect(self) -> float | None:
        await watch.identify(self.ctx)
        self._fn_due_mono = 0.0
        self._maybe_unresolved = True
        return AGAIN

    async def _resolve(self, turn: _Turn) -> float | None:
        """Let the FN decide every unresolved receipt; the queue stays halted while one is undecided."""
        if await recover(self.ctx):
            self._maybe_unresolved = False
            self._maybe_incomplete = True
        else:
            turn.halted = True
        return AGAIN

    async def _print(self, receipt: StoredReceipt, status: DeviceStatus) -> float:
        refusal, self._close_refusal = self._close_refusal, None
        refused = refusal[1] if refusal is not None and refusal[0] == receipt.key else None
        attempt = await print_receipt(self.ctx, self.reader, receipt, status, refused)
        if attempt.outcome is Outcome.FISCALIZED:
            self._state_backoff.reset()
        elif attempt.outcome is Outcome.DEVICE_STATE and isinstance(attempt.error, DeviceError):
            self._device_error(attempt.error)
            return self._state_backoff.next()
        elif attempt.outcome is Outcome.UNKNOWN:
            self._maybe_unresolved = True
            if attempt.close_refusal is not None:
                self._close_refusal = (receipt.key, attempt.close_refusal)
        return 0.0

    async def _run_command(self, command: Command) -> None:
        ctx = self.ctx
        try:
            extra = await actions.execute(ctx, command.action, command.params, command.actor)
            status = await ctx.poll()
        except (KktError, ValueError, ActionRefused) as exc:  # ValueError: bad action parameters
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
