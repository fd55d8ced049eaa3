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
from collections.abc import Awaitable, Callable
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
    """One turn: the status, the receipt waiting, the step being done, and what the turn learnt (a resolve
    left a receipt undecided, the relay had nothing to do)."""

    status: DeviceStatus | None
    receipt: StoredReceipt | None = None
    step: Step | None = None
    halted: bool = False
    relay_tried: bool = False

    @property
    def device(self) -> DeviceStatus:
        """The status (every step but CONNECT has one: next_step connects first)."""
        if self.status is None:
            raise AssertionError(self.step)
        return self.status


class DeviceWorker:
    """Owns one device (through ``ctx``); run :meth:`run` as one task; :meth:`wake` when work may be waiting."""

    def __init__(
        self, ctx: DeviceContext, fn_watch_interval_s: float, relay_ofd: bool = True, kkt_sends_ofd: bool = False
    ) -> None:
        self.ctx = ctx
        self.relay_ofd = relay_ofd  # ofd.mode = relay: the host relays the FN's messages (pipeline/relay.py)
        self.kkt_sends_ofd = kkt_sends_ofd  # ofd.mode = device: the FN watch confirms receipts from FF39
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
        while not self._stopping:
            delay = await self._guarded_turn()
            if delay > 0 and not self._stopping:
                await self._idle(delay)
        self._fail_commands("the worker stopped")

    async def _guarded_turn(self) -> float:
        """One turn; a failure is recorded and becomes the delay before the next one (never raises)."""
        try:
            delay = await self._turn()
        except (LinkError, ProtocolError) as exc:
            self.reader.forget()
            self._maybe_unresolved = True  # a receipt may have been left ``printing``: check first
            return await self._lost(exc)
        except Exception as exc:  # a device state, a bug or a storage failure must not kill the worker
            self._maybe_unresolved = True
            self._failed(exc)
            return self._state_backoff.next()
        self._link_backoff.reset()
        return delay

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, DeviceError):
            self._device_error(exc)
            return
        log.exception("device %s: worker turn failed", self.ctx.device.id, exc_info=exc)
        self.ctx.cache.last_error = "internal error (see the log)"

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
        turn = _Turn(await self.reader.status() if self.ctx.cache.connected else None)
        for _ in range(MAX_STEPS_PER_TURN):
            turn.receipt = await self.reader.next_receipt() if turn.status is not None else None
            turn.step = next_step(turn.status, self._flags(turn))
            delay = await _DO[turn.step.kind](self, turn)
            if delay is not AGAIN:
                return delay
            if turn.step.kind in (StepKind.CONNECT, StepKind.RESOLVE) and not turn.halted:
                turn.status = await self.ctx.poll()
        return 0.0  # a turn's steps are bounded; the next turn goes on

    def _flags(self, turn: _Turn) -> Flags:
        ctx, cache = self.ctx, self.ctx.cache
        return Flags(
            connected=cache.connected,
            maybe_unresolved=self._maybe_unresolved,
            halted=turn.halted,
            command_waiting=bool(self._commands),
            maybe_incomplete=self._maybe_incomplete,
            fn_watch_due=ctx.monotonic() >= self._fn_due_mono,
            close_due=close_due(cache.shift_opened_at, ctx.device_now(), ctx.shift.close_before_limit_min),
            receipt_waiting=turn.receipt is not None,
            fn_blocked=cache.fn_blocked,
            relay_tried=turn.relay_tried,
            auto_open=ctx.shift.auto_open,
        )

    # --- the steps (each returns the delay that ends the turn, or AGAIN) ----------------------------

    async def _halted(self, _turn: _Turn) -> float | None:
        return self._state_backoff.next()

    async def _command(self, turn: _Turn) -> float | None:
        await self._run_command(self._commands.pop(0))
        return self._state_backoff.next() if turn.halted else 0.0

    async def _relay(self, turn: _Turn) -> float | None:
        moved = self.relay_ofd and turn.status is not None and await relay.relay_step(self.ctx, turn.status)
        turn.relay_tried = not moved
        return 0.0 if moved else AGAIN

    async def _continue_printing(self, _turn: _Turn) -> float | None:
        await self.ctx.io(self.ctx.driver.continue_printing)
        await actions.mark_printed(self.ctx)
        return 0.0

    async def _mark_printed(self, _turn: _Turn) -> float | None:
        await actions.mark_printed(self.ctx)  # the device has nothing left to print: the copies are done
        self._maybe_incomplete = False
        return AGAIN

    async def _fn_watch(self, _turn: _Turn) -> float | None:
        await watch.fn_watch(self.ctx, confirm_ofd=self.kkt_sends_ofd)
        self._fn_due_mono = self.ctx.monotonic() + self.fn_watch_interval_s
        return AGAIN

    async def _close_shift(self, turn: _Turn) -> float | None:
        expired = turn.device.mode is Mode.SHIFT_EXPIRED
        why = "the shift is over 24 hours" if expired else "before the 24-hour limit"
        await actions.close_shift(self.ctx, why, audit_actor="pipeline")
        return 0.0

    async def _cancel_open(self, _turn: _Turn) -> float | None:
        log.info("device %s: cancelling a receipt left open", self.ctx.device.id)
        await self.ctx.io(self.ctx.driver.cancel_receipt)
        return 0.0

    async def _open_shift(self, _turn: _Turn) -> float | None:
        await actions.open_shift(self.ctx)
        return 0.0

    async def _idle_step(self, turn: _Turn) -> float | None:
        if blocking_problem(turn.device) is None:
            self.ctx.clear_error()
        self._state_backoff.reset()
        return IDLE_POLL_S

    async def _wait(self, turn: _Turn) -> float | None:
        step = turn.step
        self.ctx.note_error(step.reason if step is not None and step.reason else "device not ready")
        return self._state_backoff.next()

    async def _connect(self, _turn: _Turn) -> float | None:
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

    async def _print(self, turn: _Turn) -> float | None:
        receipt, status = turn.receipt, turn.device
        if receipt is None:  # next_step prints only with a receipt waiting
            raise AssertionError(turn.step)
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
        result = {"device": ctx.device.id, "action": command.action.value, "ok": True, "mode": status.mode.name.lower()}
        if not command.future.done():
            command.future.set_result({**result, **extra})


# Each step's method on DeviceWorker (one-to-one with the rows of next_step's table).
_DO: dict[StepKind, Callable[[DeviceWorker, _Turn], Awaitable[float | None]]] = {
    StepKind.CONNECT: DeviceWorker._connect,
    StepKind.RESOLVE: DeviceWorker._resolve,
    StepKind.HALTED: DeviceWorker._halted,
    StepKind.COMMAND: DeviceWorker._command,
    StepKind.CONTINUE_PRINTING: DeviceWorker._continue_printing,
    StepKind.MARK_PRINTED: DeviceWorker._mark_printed,
    StepKind.FN_WATCH: DeviceWorker._fn_watch,
    StepKind.CLOSE_SHIFT: DeviceWorker._close_shift,
    StepKind.RELAY: DeviceWorker._relay,
    StepKind.IDLE: DeviceWorker._idle_step,
    StepKind.WAIT: DeviceWorker._wait,
    StepKind.CANCEL_OPEN: DeviceWorker._cancel_open,
    StepKind.OPEN_SHIFT: DeviceWorker._open_shift,
    StepKind.PRINT: DeviceWorker._print,
}
