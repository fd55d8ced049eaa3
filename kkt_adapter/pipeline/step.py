"""What a device's worker does next: a pure function of the device status and the worker's flags.

:func:`next_step` is the worker's whole decision, in this order (the first row that applies wins):

====================================================  ==============================================
flags / status                                        step
====================================================  ==============================================
not connected                                         ``CONNECT`` (open the port, identify)
a receipt may be ``printing``/``unknown``             ``RESOLVE`` (the FN decides, :mod:`.recovery`)
  … and resolving left one undecided                  ``COMMAND`` if one waits, else ``HALTED``
an operator action waits                              ``COMMAND``
sub-mode "waiting for continue printing"              ``CONTINUE_PRINTING``
copies may be unfinished and the paper is fine        ``MARK_PRINTED``
FN watch due                                          ``FN_WATCH``
shift expired, or its close before 24 h is due        ``CLOSE_SHIFT`` (only if the device can print)
no receipt waiting, or the FN blocked by its backlog  ``RELAY`` (once per turn: OFD exchange via the FN)
no receipt waiting                                    ``IDLE``
paper out, cover open, a mode that forbids receipts   ``WAIT`` with the reason
a document left open                                  ``CANCEL_OPEN``
shift closed                                          ``OPEN_SHIFT``, or ``WAIT`` if auto-open is off
mode is not "shift open"                              ``WAIT`` with the mode
otherwise                                             ``PRINT`` the oldest ``accepted`` receipt
====================================================  ==============================================

Steps that change nothing on the device (``MARK_PRINTED``, ``FN_WATCH``, a ``RELAY`` that found nothing)
let the worker decide again on the same status; every other step ends the worker's turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from kkt_adapter.kkt.types import DeviceStatus, Mode, SubMode
from kkt_adapter.pipeline.policy import blocking_problem


class StepKind(Enum):
    """One step of the worker."""

    CONNECT = "connect"
    RESOLVE = "resolve"
    HALTED = "halted"
    COMMAND = "command"
    CONTINUE_PRINTING = "continue-printing"
    MARK_PRINTED = "mark-printed"
    FN_WATCH = "fn-watch"
    CLOSE_SHIFT = "close-shift"
    RELAY = "relay"
    IDLE = "idle"
    WAIT = "wait"
    CANCEL_OPEN = "cancel-open"
    OPEN_SHIFT = "open-shift"
    PRINT = "print"


@dataclass(frozen=True)
class Flags:
    """What the worker knows besides the status (each a fact, not an I/O result to come)."""

    connected: bool = True
    maybe_unresolved: bool = False  # a receipt may have been left printing/unknown: resolve first
    halted: bool = False  # resolving ran this turn and left a receipt undecided
    command_waiting: bool = False
    maybe_incomplete: bool = False  # paper copies may be unfinished (after a resolve)
    fn_watch_due: bool = False
    close_due: bool = False  # the shift's close before the 24-hour limit is due
    receipt_waiting: bool = False
    fn_blocked: bool = False
    relay_tried: bool = False  # the relay ran this turn and found nothing to do
    auto_open: bool = True


@dataclass(frozen=True)
class Step:
    """The step and, for ``WAIT``, the reason shown to the cashier (Russian / English)."""

    kind: StepKind
    reason: str | None = None


CLOSED_NO_AUTO_OPEN = "Смена закрыта: откройте смену / the shift is closed (auto_open is off)"


def next_step(status: DeviceStatus | None, flags: Flags) -> Step:
    """The worker's next step (see the module's table); ``status`` is None only when not connected."""
    if not flags.connected or status is None:
        return Step(StepKind.CONNECT)
    if flags.maybe_unresolved:
        return _unresolved(flags)
    return _housekeeping(status, flags) or _receipt(status, flags)


def _unresolved(flags: Flags) -> Step:
    if not flags.halted:
        return Step(StepKind.RESOLVE)
    return Step(StepKind.COMMAND) if flags.command_waiting else Step(StepKind.HALTED)


def _housekeeping(status: DeviceStatus, flags: Flags) -> Step | None:
    """Everything that comes before the next receipt, or None."""
    if flags.command_waiting:
        return Step(StepKind.COMMAND)
    if status.sub_mode is SubMode.WAIT_CONTINUE:
        return Step(StepKind.CONTINUE_PRINTING)
    if flags.maybe_incomplete and status.sub_mode is SubMode.PAPER_OK:
        return Step(StepKind.MARK_PRINTED)
    if flags.fn_watch_due:
        return Step(StepKind.FN_WATCH)
    expired = status.mode is Mode.SHIFT_EXPIRED
    if (expired or (flags.close_due and status.mode is Mode.SHIFT_OPEN)) and blocking_problem(status) is None:
        return Step(StepKind.CLOSE_SHIFT)
    if (not flags.receipt_waiting or flags.fn_blocked) and not flags.relay_tried:
        return Step(StepKind.RELAY)
    return None


def _receipt(status: DeviceStatus, flags: Flags) -> Step:
    """Bring the device to "shift open, no document", then print."""
    if not flags.receipt_waiting:
        return Step(StepKind.IDLE)
    problem = blocking_problem(status)
    if problem is not None:
        return Step(StepKind.WAIT, problem)
    if status.mode is Mode.OPEN_DOCUMENT:
        return Step(StepKind.CANCEL_OPEN)
    if status.mode is Mode.SHIFT_CLOSED:
        return Step(StepKind.OPEN_SHIFT) if flags.auto_open else Step(StepKind.WAIT, CLOSED_NO_AUTO_OPEN)
    if status.mode is not Mode.SHIFT_OPEN:
        name = status.mode.name
        return Step(StepKind.WAIT, f"Касса не готова (режим {name}) / device not ready, mode {name}")
    return Step(StepKind.PRINT)
