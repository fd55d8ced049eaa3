"""The worker's decision (pure): ``next_step`` over statuses and flags, row by row of its table."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kkt_adapter.kkt.types import DeviceStatus, Mode, SubMode
from kkt_adapter.pipeline.step import CLOSED_NO_AUTO_OPEN, Flags, StepKind, next_step

READY = DeviceStatus(Mode.SHIFT_OPEN, 0, SubMode.PAPER_OK, 0, cover_open=False, paper_present=True)
WORK = Flags(receipt_waiting=True)


def status(
    mode: Mode = Mode.SHIFT_OPEN, sub_mode: SubMode = SubMode.PAPER_OK, cover_open: bool = False
) -> DeviceStatus:
    """A short status with the given mode, sub-mode and cover."""
    return replace(READY, mode=mode, sub_mode=sub_mode, cover_open=cover_open)


def test_ready_device_with_a_receipt_prints() -> None:
    """Shift open, paper in, a receipt waiting and nothing else to do: print."""
    assert next_step(READY, WORK).kind is StepKind.PRINT


def test_disconnected_device_connects_first() -> None:
    """Without a connection (no status) the only step is to connect."""
    assert next_step(None, WORK).kind is StepKind.CONNECT
    assert next_step(READY, replace(WORK, connected=False)).kind is StepKind.CONNECT


def test_unresolved_receipts_are_resolved_before_anything() -> None:
    """A receipt that may be printing/unknown is resolved before commands, housekeeping or printing."""
    flags = replace(WORK, maybe_unresolved=True, command_waiting=True, fn_watch_due=True)
    assert next_step(READY, flags).kind is StepKind.RESOLVE


def test_halted_queue_runs_operator_actions_but_never_prints() -> None:
    """Left undecided, the queue is halted: an operator action may run (it makes no receipt), nothing else."""
    halted = replace(WORK, maybe_unresolved=True, halted=True)
    assert next_step(READY, halted).kind is StepKind.HALTED
    assert next_step(READY, replace(halted, command_waiting=True)).kind is StepKind.COMMAND


def test_operator_action_comes_before_the_receipt() -> None:
    """A queued operator action runs between receipts, before the next one."""
    assert next_step(READY, replace(WORK, command_waiting=True)).kind is StepKind.COMMAND


def test_waiting_for_continue_printing_is_answered() -> None:
    """Sub-mode 3 (paper back after running out mid-print): send "continue printing"."""
    assert next_step(status(sub_mode=SubMode.WAIT_CONTINUE), WORK).kind is StepKind.CONTINUE_PRINTING


def test_unfinished_copies_are_marked_once_the_paper_is_fine() -> None:
    """After a resolve, copies flagged unfinished are marked printed when the printer is idle with paper."""
    flags = replace(WORK, maybe_incomplete=True)
    assert next_step(READY, flags).kind is StepKind.MARK_PRINTED
    assert next_step(status(sub_mode=SubMode.PAPER_OUT_ACTIVE), flags).kind is not StepKind.MARK_PRINTED


def test_fn_watch_when_due() -> None:
    """The FN watch runs when due, before the receipt."""
    assert next_step(READY, replace(WORK, fn_watch_due=True)).kind is StepKind.FN_WATCH


@pytest.mark.parametrize(
    ("device", "close_due", "kind"),
    [
        (status(Mode.SHIFT_EXPIRED), False, StepKind.CLOSE_SHIFT),
        (READY, True, StepKind.CLOSE_SHIFT),
        (status(Mode.SHIFT_CLOSED), True, StepKind.OPEN_SHIFT),
        (status(Mode.SHIFT_EXPIRED, SubMode.PAPER_OUT_PASSIVE), False, StepKind.WAIT),
    ],
)
def test_shift_close_when_expired_or_due_and_the_device_can_print(
    device: DeviceStatus, close_due: bool, kind: StepKind
) -> None:
    """An expired shift, or one whose close before 24 h is due, is closed, unless paper/cover forbid it."""
    assert next_step(device, replace(WORK, close_due=close_due)).kind is kind


def test_relay_runs_when_idle_or_when_the_fn_is_blocked() -> None:
    """The OFD relay runs once a turn when no receipt waits, or first when the FN's backlog blocks it."""
    assert next_step(READY, Flags()).kind is StepKind.RELAY
    assert next_step(READY, replace(WORK, fn_blocked=True)).kind is StepKind.RELAY
    assert next_step(READY, Flags(relay_tried=True)).kind is StepKind.IDLE
    assert next_step(READY, replace(WORK, fn_blocked=True, relay_tried=True)).kind is StepKind.PRINT


@pytest.mark.parametrize(
    ("device", "word"),
    [
        (status(sub_mode=SubMode.PAPER_OUT_PASSIVE), "paper"),
        (status(cover_open=True), "cover"),
        (status(Mode.BLOCKED), "BLOCKED"),
    ],
)
def test_a_state_the_cashier_must_fix_waits_with_the_reason(device: DeviceStatus, word: str) -> None:
    """Paper out, cover open or a mode that forbids receipts: wait, and say why."""
    step = next_step(device, WORK)
    assert step.kind is StepKind.WAIT
    assert step.reason is not None
    assert word in step.reason


def test_open_document_is_cancelled_before_printing() -> None:
    """A receipt left open on the device is cancelled (it was never signed) before the next one."""
    assert next_step(status(Mode.OPEN_DOCUMENT), WORK).kind is StepKind.CANCEL_OPEN


def test_closed_shift_is_opened_only_with_auto_open() -> None:
    """A closed shift is opened for a receipt when auto-open is on; otherwise the worker waits and says so."""
    assert next_step(status(Mode.SHIFT_CLOSED), WORK).kind is StepKind.OPEN_SHIFT
    step = next_step(status(Mode.SHIFT_CLOSED), replace(WORK, auto_open=False))
    assert (step.kind, step.reason) == (StepKind.WAIT, CLOSED_NO_AUTO_OPEN)
